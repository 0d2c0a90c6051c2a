#!/usr/bin/env bash
# Make sure Debian's headless Chromium is installed for the dashboard's browser tests (tests/ui).
# Playwright drives it at /usr/bin/chromium; its own browser download is never used. Idempotent:
# does nothing when chromium is there. Needs root (or sudo) only when it must install. When it
# cannot install, the UI tests skip with the reason, except under CI=true, where this fails.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -x /usr/bin/chromium ]; then exit 0; fi

if as_root apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null \
    && [ -x /usr/bin/chromium ]; then
    exit 0
fi

echo "browser.sh: could not install Debian's chromium; the dashboard's browser tests will skip" >&2
if [ "${CI:-}" = "true" ]; then exit 1; fi
exit 0
