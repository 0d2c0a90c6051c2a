#!/usr/bin/env bash
# Print the base image `make image` builds on, making it first when needed.
#
# 1. $FRISK_BASE_IMAGE when set (any image with python3 >= 3.11 and its venv module);
# 2. else the official python:3.11-slim-bookworm when it is here or can be pulled;
# 3. else (no container registry reachable) a local Debian bookworm + python3 made with
#    debootstrap from the Debian mirror apt uses, imported as frisk-base:bookworm (kept, so this
#    runs once per machine).
#
# Usage: base-image.sh DOCKER   (the docker client docker.sh printed). Needs root to debootstrap.
set -euo pipefail

DOCKER="${1:-docker}"
OFFICIAL="python:3.11-slim-bookworm"
LOCAL="frisk-base:bookworm"
MIRROR="${FRISK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

if [ -n "${FRISK_BASE_IMAGE:-}" ]; then echo "$FRISK_BASE_IMAGE"; exit 0; fi
if have "$LOCAL"; then echo "$LOCAL"; exit 0; fi
if have "$OFFICIAL"; then echo "$OFFICIAL"; exit 0; fi
# A registry that is reachable answers within seconds; one that is not must not hold up the build.
if timeout 30 "$DOCKER" pull -q "$OFFICIAL" >/dev/null 2>&1; then echo "$OFFICIAL"; exit 0; fi

echo "base-image.sh: no registry reachable; building $LOCAL with debootstrap" >&2
if ! command -v debootstrap >/dev/null; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap >/dev/null
fi
root="$(mktemp -d /tmp/frisk-rootfs.XXXXXX)"
trap 'as_root rm -rf "$root"' EXIT
# minbase: essential packages and apt only. python3-venv brings ensurepip (the build stage makes
# a virtual environment); libgomp1 is LightGBM's OpenMP runtime.
as_root debootstrap --variant=minbase --include=python3,python3-venv,libgomp1 \
    bookworm "$root" "$MIRROR" >&2
as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale
as_root tar -C "$root" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "Debian bookworm minbase + python3 (debootstrap, $MIRROR)" - "$LOCAL" >/dev/null
echo "$LOCAL"
