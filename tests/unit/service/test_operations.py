"""/health, /ready, /metrics, /v1/stats, request ids, logs and the catch-all."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frisk.service.logs import JsonFormatter

Body = Callable[..., dict[str, Any]]
Keys = dict[str, dict[str, str]]


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/score", "/v1/score/batch", "/v1/decisions/{transaction_id}"} <= set(paths)


def test_ready_reports_engine_and_ledger(
    make_client: Callable[..., TestClient], keys: Keys, amount_engine: Any
) -> None:
    client = make_client()
    # No key: load balancers send none; the body tells nothing but these three booleans.
    assert client.get("/ready").json() == {"ready": True, "engine": True, "ledger": True}
    amount_engine.is_ready = False
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json() == {"ready": False, "engine": False, "ledger": True}
    r = make_client(engine=None).get("/ready")
    assert (r.status_code, r.json()["engine"]) == (503, False)


def test_metrics(client: TestClient, keys: Keys, txn_body: Body) -> None:
    client.post("/v1/score", json=txn_body("m-1", amount=9500.0), headers=keys["scorer"])
    client.post("/v1/score", json=txn_body("m-1", amount=9500.0), headers=keys["scorer"])
    client.post("/v1/score", json=txn_body("m-2", amount=-1), headers=keys["scorer"])
    r = client.get("/metrics", headers=keys["admin"])
    assert r.status_code == 200
    text = r.text
    assert 'frisk_decisions_total{action="block",tier="high"} 1.0' in text
    assert "frisk_decision_replays_total 1.0" in text
    assert 'frisk_errors_total{type="invalid_input"} 1.0' in text
    assert 'frisk_model_info{version="test-amount-1"} 1.0' in text
    assert 'frisk_http_requests_total{method="POST",route="/v1/score",status="200"} 2.0' in text
    assert 'frisk_http_request_duration_seconds_count{route="/v1/score"} 3.0' in text
    assert "frisk_decision_score_bucket" in text
    # One decision recorded, in one group commit (the replay and the 422 wrote nothing).
    assert "frisk_ledger_commit_decisions_sum 1.0" in text
    assert "frisk_ledger_commit_seconds_count 1.0" in text


def test_stats(make_client: Callable[..., TestClient], keys: Keys, txn_body: Body) -> None:
    client = make_client(api={"alert_budget": 0.25})
    empty = client.get("/v1/stats", headers=keys["analyst"]).json()
    assert (empty["decisions_today"], empty["latency_ms_p50"]) == (0, None)
    for i, amount in enumerate([100.0, 200.0, 9000.0]):
        client.post("/v1/score", json=txn_body(f"s-{i}", amount=amount), headers=keys["scorer"])
    stats = client.get("/v1/stats", headers=keys["analyst"]).json()
    assert stats["decisions_today"] == 3
    assert stats["alerts_today"] == 1
    assert stats["alert_rate_today"] == pytest.approx(1 / 3)
    assert stats["over_budget"] is True
    assert stats["decisions_since_start"] == {"allow": 2, "block": 1}
    assert 0 < stats["latency_ms_p50"] <= stats["latency_ms_p99"]
    assert stats["uptime_seconds"] > 0


def test_request_id_is_kept_or_made(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    made = client.get("/health", headers={"X-Request-ID": "bad id\n"}).headers["X-Request-ID"]
    assert len(made) == 32


def test_access_log_is_one_json_line_without_the_key(
    client: TestClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="frisk.access"):
        client.get("/v1/decisions/secret-txn", headers=keys["analyst"])
    record = next(r for r in caplog.records if r.name == "frisk.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "/v1/decisions/{transaction_id}"
    assert line["status"] == 404
    assert len(line["key"]) == 12
    rendered = JsonFormatter().format(record)
    assert "secret-txn" not in rendered
    assert keys["analyst"]["X-API-Key"].split("_")[1] not in rendered


def test_unexpected_errors_are_a_generic_500(
    make_client: Callable[..., TestClient],
    keys: Keys,
    txn_body: Body,
    amount_engine: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def crash(_txn: Any) -> Any:
        raise RuntimeError("secret internals")

    amount_engine.decide = crash
    with caplog.at_level(logging.ERROR, logger="frisk.service"):
        r = make_client().post("/v1/score", json=txn_body(), headers=keys["scorer"])
    assert r.status_code == 500
    assert "secret" not in r.text
    assert r.json()["request_id"] == r.headers["X-Request-ID"]
    assert any(rec.exc_info for rec in caplog.records if rec.name == "frisk.service")


def test_unknown_path_is_404_json(client: TestClient) -> None:
    r = client.get("/nope")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


def test_docs_pages_load_only_frisks_own_files(client: TestClient) -> None:
    """Swagger UI and ReDoc from the installed package's files: nothing from a CDN."""
    for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        response = client.get(page)
        html = response.text
        assert f'src="/docs/static/{script}"' in html
        # The browser may fetch nothing from elsewhere, whatever the bundles would.
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert "https://" not in html, page
        asset = client.get(f"/docs/static/{script}")
        assert asset.status_code == 200
        assert len(asset.content) > 100_000
    assert client.get("/docs/static/swagger-ui.css").status_code == 200
