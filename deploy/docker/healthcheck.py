"""The image's HEALTHCHECK: exit 0 when the role's health URL answers 2xx, 1 otherwise.

The API's is ``/health`` on ``FRISK_SERVICE__PORT``; the dashboard's container sets
``HEALTHCHECK_URL`` to Streamlit's own (``/_stcore/health``). Only the standard library: the
check runs every few seconds and must not import Frisk.
"""

import os
import sys
import urllib.request

url = os.environ.get("HEALTHCHECK_URL") or (
    f"http://127.0.0.1:{os.environ.get('FRISK_SERVICE__PORT', '8000')}/health"
)
try:
    with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 (a local URL)
        sys.exit(0 if 200 <= response.status < 300 else 1)
except Exception as exc:  # any failure is "unhealthy", with the reason in docker inspect
    print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
