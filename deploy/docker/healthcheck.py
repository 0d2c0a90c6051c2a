"""The image's health probe: exit 0 when a URL answers 2xx, 1 otherwise (the reason on stderr).

    healthcheck.py                      the API's /health on FRISK_SERVICE__PORT (HEALTHCHECK)
    healthcheck.py URL                  any URL, e.g. the dashboard's /_stcore/health
    healthcheck.py URL --key-file PATH  with the API key in PATH as X-API-Key (/ready needs one)

``HEALTHCHECK_URL`` replaces the default URL (the dashboard's container sets it). Only the
standard library: it runs every few seconds and must not import Frisk.
"""

import os
import sys
import urllib.request


def main(argv: list[str]) -> int:
    key_file = None
    if "--key-file" in argv:
        at = argv.index("--key-file")
        key_file = argv[at + 1]
        argv = argv[:at] + argv[at + 2 :]
    port = os.environ.get("FRISK_SERVICE__PORT", "8000")
    url = argv[0] if argv else os.environ.get("HEALTHCHECK_URL") or f"http://127.0.0.1:{port}/health"
    request = urllib.request.Request(url)  # noqa: S310 (a local URL the operator gives)
    try:
        if key_file is not None:
            with open(key_file, encoding="utf-8") as handle:
                request.add_header("X-API-Key", handle.read().strip())
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
            return 0 if 200 <= response.status < 300 else 1
    except Exception as exc:  # any failure is "unhealthy", with the reason in docker inspect
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
