"""The real service over HTTP: uvicorn in a thread on a free port, a fresh ledger per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from frisk.config import load_settings
from frisk.service.app import create_app
from frisk.store import SqlLedger, default_url, open_ledger

if TYPE_CHECKING:
    from tests.integration.conftest import RoleKeys, StartServer, ThreadedServer

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("service_http")]

Body = Callable[..., dict[str, Any]]


@dataclass
class Running:
    url: str
    engine: Any
    ledger: SqlLedger
    keys: dict[str, dict[str, str]]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0)


@pytest.fixture
def serve(
    tmp_path: Path, amount_engine: Any, start_server: StartServer, role_keys: RoleKeys
) -> Iterator[Callable[..., Running]]:
    """``serve(database_url=None, **settings)``: start a server, stopped after the test."""
    ledgers: list[SqlLedger] = []
    servers: list[ThreadedServer] = []

    def start(database_url: str | None = None, **overrides: Any) -> Running:
        url = database_url or default_url(tmp_path)
        settings = load_settings(home=tmp_path, database_url=url, **overrides)
        app = create_app(settings, amount_engine)  # opens and migrates the ledger itself
        ledger = open_ledger(url, migrate=False)
        ledgers.append(ledger)
        keys = role_keys(ledger)
        server = start_server(app)
        servers.append(server)
        return Running(server.url, amount_engine, ledger, keys)

    yield start
    for server in servers:
        server.stop()
    for ledger in ledgers:
        ledger.close()


def test_scoring_flow(serve: Callable[..., Running], database_url: str, txn_body: Body) -> None:
    running = serve(database_url)
    scorer = running.keys["scorer"]
    with running.client() as http:
        first = http.post("/v1/score", json=txn_body("h-1", amount=8500.0), headers=scorer)
        assert first.status_code == 200, first.text
        decision = first.json()
        assert (decision["action"], decision["risk_score"]) == ("block", 85)
        # Recorded before it was returned.
        recorded = running.ledger.get_decision("h-1")
        assert recorded is not None
        assert recorded.score == decision["score"]

        again = http.post("/v1/score", json=txn_body("h-1", amount=8500.0), headers=scorer)
        assert again.json() == decision
        assert running.engine.calls == 1

        other = http.post("/v1/score", json=txn_body("h-1", amount=1.0), headers=scorer)
        assert other.status_code == 409
        assert other.json()["request_id"] == other.headers["X-Request-ID"]

        read = http.get("/v1/decisions/h-1", headers=running.keys["analyst"])
        assert read.json() == decision

        batch = [txn_body(f"hb-{i}") for i in range(5)]
        got = http.post("/v1/score/batch", json=batch, headers=scorer)
        assert [d["transaction_id"] for d in got.json()] == [f"hb-{i}" for i in range(5)]
    assert running.engine.calls == 6


def test_concurrent_retries_reach_the_engine_once(
    serve: Callable[..., Running], database_url: str, txn_body: Body
) -> None:
    running = serve(database_url)

    def post(_: int) -> dict[str, Any]:
        with running.client() as http:
            r = http.post("/v1/score", json=txn_body("same"), headers=running.keys["scorer"])
            assert r.status_code == 200, r.text
            result: dict[str, Any] = r.json()
            return result

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, range(16)))
    assert all(r == results[0] for r in results)
    assert running.engine.calls == 1


def test_auth(serve: Callable[..., Running], txn_body: Body) -> None:
    running = serve()
    with running.client() as http:
        assert http.get("/health").status_code == 200
        r = http.post("/v1/score", json=txn_body())
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        r = http.post("/v1/score", json=txn_body(), headers=running.keys["analyst"])
        assert r.status_code == 403
        bearer = {"Authorization": f"Bearer {running.keys['scorer']['X-API-Key']}"}
        assert http.post("/v1/score", json=txn_body(), headers=bearer).status_code == 200


def test_invalid_input_names_the_field(serve: Callable[..., Running], txn_body: Body) -> None:
    running = serve()
    with running.client() as http:
        r = http.post(
            "/v1/score", json=txn_body(payer_country="France"), headers=running.keys["scorer"]
        )
    assert r.status_code == 422
    assert r.json()["field"] == "payer_country"
    assert "traceback" not in r.text.lower()
    assert running.engine.calls == 0


def test_body_too_large(serve: Callable[..., Running], txn_body: Body) -> None:
    running = serve(security={"max_body_bytes": 2048})
    big = txn_body(extra={"note": "x" * 5000})
    with running.client() as http:
        r = http.post("/v1/score", json=big, headers=running.keys["scorer"])
        assert r.status_code == 413
        assert r.json()["error"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b" " * 512

        r = http.post(
            "/v1/score",
            content=chunks(),
            headers={**running.keys["scorer"], "Content-Type": "application/json"},
        )
        assert r.status_code == 413
    assert running.engine.calls == 0


def test_rate_limit(serve: Callable[..., Running]) -> None:
    running = serve(security={"rate_limit": {"per_second": 0.2, "burst": 5}})
    with running.client() as http:
        codes = [
            http.get("/v1/stats", headers=running.keys["analyst"]).status_code for _ in range(6)
        ]
        assert codes == [200] * 5 + [429]
        r = http.get("/v1/stats", headers=running.keys["analyst"])
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 5


def test_operations_endpoints(serve: Callable[..., Running], txn_body: Body) -> None:
    running = serve()
    analyst = running.keys["analyst"]
    with running.client() as http:
        assert http.get("/health").json() == {"status": "ok"}
        ready = http.get("/ready")  # no key: what a load balancer sends
        assert ready.json() == {"ready": True, "engine": True, "ledger": True}
        for i in range(4):
            http.post(
                "/v1/score",
                json=txn_body(f"o-{i}", amount=3000.0 * i + 100.0),
                headers=running.keys["scorer"],
            )
        metrics = http.get("/metrics", headers=analyst)
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'frisk_decisions_total{action="allow",tier="low"} 2.0' in metrics.text
        assert 'frisk_model_info{version="test-amount-1"} 1.0' in metrics.text
        assert 'route="/v1/score"' in metrics.text
        stats = http.get("/v1/stats", headers=analyst).json()
        assert stats["decisions_today"] == 4
        assert stats["alerts_today"] == 2
        assert stats["latency_ms_p99"] is not None
        assert http.get("/docs").status_code == 200
