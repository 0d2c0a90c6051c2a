#!/usr/bin/env bash
# Make sure a Docker engine answers here, for `make image` and the image and compose tests.
#
# Idempotent: does nothing when a daemon already answers. Otherwise installs Debian's docker.io
# and docker-compose when missing and starts dockerd without a bridge network
# (--bridge=none --iptables=false): containers use the host network only, and dockerd never
# touches the host's firewall. Needs root (or sudo) only when it must install or start.
#
# Prints the docker client to use (Debian's, which matches the daemon and has BuildKit built in;
# a newer client on the PATH without the buildx plugin would fall back to the legacy builder,
# which has no build secrets). Under CI=true a failure exits non-zero; otherwise too, since
# `make image` cannot work without an engine (the tests skip with the reason outside CI).
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    if ! dpkg -s "$@" >/dev/null 2>&1; then
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
    fi
}

apt_install docker.io docker-compose

DOCKER=/usr/bin/docker
LOG="${FRISK_DOCKERD_LOG:-/var/log/frisk-dockerd.log}"

if ! "$DOCKER" info >/dev/null 2>&1; then
    # No systemd here (or not one that runs docker): start the daemon in the background. It
    # starts and supervises its own containerd. The storage driver is overlay2 where the kernel
    # and the file system below /var/lib/docker allow it, else dockerd picks one that works.
    as_root mkdir -p "$(dirname "$LOG")"
    # A containerd left behind by a dockerd that was killed holds its socket, and a new dockerd
    # times out waiting for its own: stop that one (only it: by the PID its pid file names, and
    # only when that process is dockerd's managed containerd).
    pidfile=/var/run/docker/containerd/containerd.pid
    if [ -s "$pidfile" ] && ! pgrep -x dockerd >/dev/null; then
        orphan="$(cat "$pidfile")"
        if grep -qs /var/run/docker/containerd/containerd.toml "/proc/$orphan/cmdline"; then
            as_root kill "$orphan" || true
            for _ in $(seq 1 20); do [ -d "/proc/$orphan" ] || break; sleep 0.5; done
        fi
    fi
    as_root nohup /usr/sbin/dockerd --bridge=none --iptables=false --ip6tables=false \
        --ip-masq=false >>"$LOG" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        if "$DOCKER" info >/dev/null 2>&1; then break; fi
        sleep 1
    done
fi

if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "docker.sh: dockerd did not come up; see $LOG" >&2
    exit 1
fi
echo "$DOCKER"
