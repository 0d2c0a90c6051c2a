#!/usr/bin/env bash
# Make sure the local PostgreSQL, Redis and NATS (JetStream) that the integration tests use are
# installed and running.
# Idempotent: does nothing when both already answer. Needs root (or sudo) only when it must install.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    if ! dpkg -s "$@" >/dev/null 2>&1; then
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi

if ! port_open 6379; then
    command -v redis-server >/dev/null || apt_install redis-server
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

if ! port_open 4222; then
    command -v nats-server >/dev/null || apt_install nats-server
    as_root mkdir -p /var/lib/nats-server /var/log
    # JetStream on, file storage under /var/lib/nats-server; nats-server does not daemonise.
    as_root setsid nohup nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server \
        -l /var/log/nats-server.log >/dev/null 2>&1 < /dev/null &
fi

for _ in $(seq 1 30); do
    if port_open 5432 && port_open 6379 && port_open 4222; then exit 0; fi
    sleep 1
done
echo "services.sh: PostgreSQL (5432), Redis (6379) or NATS (4222) did not come up" >&2
exit 1
