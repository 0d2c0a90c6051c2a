#!/usr/bin/env bash
# `make image`: build the Frisk image on this machine and tag it frisk:latest and frisk:<version>.
#
# Starts a Docker engine when none answers (docker.sh), picks or makes the base image
# (base-image.sh: the official slim Python image, or a debootstrap bookworm + python3 when no
# registry is reachable), and builds with BuildKit on the host network (dockerd runs without a
# bridge). The CA bundle pip is configured with here (pip config's global.cert, else
# FRISK_CA_BUNDLE, else Debian's system bundle) is passed as a build secret: mounted for the pip
# steps of the build stage only, in no layer of any image. The layer cache makes a rebuild with
# nothing changed take seconds. Prints the image id last.
set -euo pipefail
cd "$(dirname "$0")/../.."

DOCKER="$(bash deploy/local/docker.sh)"
BASE="$(bash deploy/local/base-image.sh "$DOCKER")"
VERSION="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
CA="${FRISK_CA_BUNDLE:-$(python3 -m pip config get global.cert 2>/dev/null || true)}"
if [ -z "$CA" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    CA=/etc/ssl/certs/ca-certificates.crt
fi
secret=()
if [ -n "$CA" ]; then secret=(--secret "id=ca,src=$CA"); fi

echo "image.sh: building frisk:$VERSION on $BASE" >&2
DOCKER_BUILDKIT=1 "$DOCKER" build --network host --progress plain "${secret[@]}" \
    --build-arg "BASE_IMAGE=$BASE" \
    --label "org.opencontainers.image.version=$VERSION" \
    --label "org.opencontainers.image.source=frisk" \
    -t "frisk:$VERSION" -t frisk:latest . >&2
"$DOCKER" image inspect --format '{{.Id}}' frisk:latest
