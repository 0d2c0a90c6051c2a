#!/usr/bin/env bash
# Make sure the load tool the service benchmark drives (wrk) is installed, from Debian's packages.
# Idempotent: does nothing when it is on the PATH. Needs root (or sudo) only when it must install.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v wrk >/dev/null; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq wrk >/dev/null
fi
wrk --version 2>&1 | head -1 || true
