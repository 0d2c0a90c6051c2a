"""POST /v1/uploads over HTTP: uvicorn in a thread on a free port, the amount test engine."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from frisk.config import load_settings
from frisk.service.app import create_app
from frisk.store import SqlLedger, default_url, open_ledger

if TYPE_CHECKING:
    from tests.integration.conftest import RoleKeys, StartServer

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("uploads_http")]

HEADER = "ref,timestamp,amt,payer_id,payee_id\n"


@dataclass
class Running:
    url: str
    ledger: SqlLedger
    keys: dict[str, dict[str, str]]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)


@pytest.fixture
def running(
    tmp_path: Path, amount_engine: Any, start_server: StartServer, role_keys: RoleKeys
) -> Iterator[Running]:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "bank.toml").write_text(
        '[columns]\ntransaction_id = "ref"\namount = "amt"\n[defaults]\ncurrency = "EUR"\n'
    )
    url = default_url(tmp_path)
    settings = load_settings(
        home=tmp_path,
        database_url=url,
        api={"upload_max_bytes": 1024 * 1024},
        security={"rate_limit": {"enabled": False}},
    )
    app = create_app(settings, amount_engine)
    ledger = open_ledger(url, migrate=False)
    server = start_server(app)
    yield Running(server.url, ledger, role_keys(ledger))
    server.stop()
    ledger.close()


def events(count: int, start: int = 0, amount: float = 100.0) -> bytes:
    lines = [
        f"b-{i},2024-03-01 12:{i // 60 % 60:02d}:{i % 60:02d}+00:00,{amount},payer-{i % 7},shop\n"
        for i in range(start, start + count)
    ]
    return (HEADER + "".join(lines)).encode()


def test_an_upload_over_http(running: Running) -> None:
    scorer = running.keys["scorer"]
    # Far over the general 256 KiB body limit, under the upload limit of 1 MiB.
    body = events(6000)
    assert len(body) > 256 * 1024
    with running.client() as http:
        got = http.post(
            "/v1/uploads",
            headers=scorer,
            files={"file": ("bank.csv", body, "text/csv")},
            data={"mapping": "bank"},
        )
        assert got.status_code == 200, got.text
        summary = got.json()
        assert (summary["rows"], summary["scored"], summary["invalid"]) == (6000, 6000, 0)
        assert running.ledger.get_decision("b-5999") is not None

        # The same rows again answer from the ledger; one reused id with another amount conflicts.
        again = events(3) + b"b-3,2024-03-01 13:00:00+00:00,oops,payer-1,shop\n"
        changed = events(1, start=4, amount=9000.0).split(b"\n", 1)[1]
        second = http.post(
            "/v1/uploads",
            headers=scorer,
            files={"file": ("bank.csv", again + changed, "text/csv")},
            data={"mapping": "bank"},
        ).json()
        assert (second["scored"], second["replayed"], second["conflicts"]) == (3, 3, 1)
        assert second["invalid"] == 1
        assert {(p["row"], p["column"], p["transaction_id"]) for p in second["problems"]} == {
            (4, "amt", "b-3"),  # the file's own column name, and the row's id
            (None, None, "b-4"),
        }

        result = http.get(second["download"], headers=running.keys["admin"])
        assert result.status_code == 200
        outcomes = {
            r["transaction_id"]: r["outcome"] for r in csv.DictReader(io.StringIO(result.text))
        }
        assert outcomes == {
            "b-0": "replayed",
            "b-1": "replayed",
            "b-2": "replayed",
            "b-4": "conflict",
        }
        assert http.get("/v1/uploads/" + "f" * 32, headers=scorer).status_code == 404


def test_an_oversized_upload_is_refused_while_it_streams(running: Running) -> None:
    def body() -> Iterator[bytes]:
        yield (
            b'--xx\r\nContent-Disposition: form-data; name="file"; filename="e.csv"\r\n\r\n'
            + events(1)
        )
        for _ in range(100):  # 6.4 MiB, six times the limit; never sent in full
            yield events(1000)[:65536]

    with running.client() as http:
        try:
            got = http.post(
                "/v1/uploads",
                headers={
                    **running.keys["scorer"],
                    "Content-Type": "multipart/form-data; boundary=xx",
                },
                content=body(),
            )
        except httpx.TransportError:
            return  # the server answered and closed before the client finished sending: fine
        assert got.status_code == 413
