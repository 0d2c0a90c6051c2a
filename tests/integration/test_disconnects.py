"""A client that goes away mid-request is not an internal error (issue #20, case 4).

Under a hung database, clients that gave up closed their connections while their requests
waited; reading those bodies then failed, and main logged each as an "unhandled error" and
counted it as an internal error (a 500 nobody received).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from frisk.config import load_settings
from frisk.service.app import create_app
from frisk.store import SqlLedger, default_url, open_ledger

pytestmark = pytest.mark.integration


def _internal_errors(url: str, headers: dict[str, str]) -> float:
    text = httpx.get(f"{url}/metrics", headers=headers, timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("frisk_errors_total") and 'type="internal"' in line
    )


@pytest.mark.parametrize("path", ["/v1/score", "/v1/score/batch", "/v1/uploads"])
def test_a_body_cut_short_by_the_client_is_not_an_internal_error(
    start_server: Callable[[Any], Any],
    role_keys: Callable[[SqlLedger], dict[str, dict[str, str]]],
    amount_engine: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    ledger = open_ledger(default_url(tmp_path))
    keys = role_keys(ledger)
    settings = load_settings(home=tmp_path, security={"rate_limit": {"enabled": False}})
    server = start_server(create_app(settings, amount_engine, ledger=ledger))
    host, port = server.url.removeprefix("http://").split(":")
    kind = "multipart/form-data; boundary=x" if path == "/v1/uploads" else "application/json"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {keys['scorer']['X-API-Key']}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: 1000\r\n\r\n".encode()
            + b'{"transaction_id": "gone"'
        )
        time.sleep(0.3)
    time.sleep(0.5)  # the server reads on, and finds the client gone
    assert _internal_errors(server.url, keys["admin"]) == 0
    assert not [r for r in caplog.records if "unhandled error" in r.getMessage()]
    server.stop()
    ledger.close()
