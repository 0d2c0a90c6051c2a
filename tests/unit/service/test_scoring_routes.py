"""POST /v1/score and /v1/score/batch through the app, with the amount test engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from frisk.store import SqlLedger

Body = Callable[..., dict[str, Any]]
Keys = dict[str, dict[str, str]]


def test_score_records_then_returns(
    client: TestClient, keys: Keys, txn_body: Body, ledger: SqlLedger, amount_engine: Any
) -> None:
    r = client.post("/v1/score", json=txn_body("t-1", amount=6000.0), headers=keys["scorer"])
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["transaction_id"] == "t-1"
    assert got["score"] == 0.6
    assert got["risk_score"] == 60
    assert (got["risk_tier"], got["action"]) == ("medium", "review")
    assert got["reasons"][0]["feature"] == "amount"
    assert got["model_version"] == "test-amount-1"
    assert got["degraded"] is False
    assert got["latency_ms"] > 0
    recorded = ledger.get_decision("t-1")
    assert recorded is not None
    assert recorded.features == {"amount": 6000.0}
    assert recorded.transaction["payer_id"] == "payer-1"
    assert amount_engine.calls == 1


def test_retry_returns_the_recorded_decision_without_the_engine(
    client: TestClient, keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    first = client.post("/v1/score", json=txn_body("t-1"), headers=keys["scorer"])
    # Key order and spelling of the same values do not make another body.
    body = dict(reversed(list(txn_body("t-1", currency="eur").items())))
    again = client.post("/v1/score", json=body, headers=keys["scorer"])
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert amount_engine.calls == 1


def test_same_id_other_body_is_a_conflict(
    client: TestClient, keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    client.post("/v1/score", json=txn_body("t-1"), headers=keys["scorer"])
    r = client.post("/v1/score", json=txn_body("t-1", amount=1.0), headers=keys["scorer"])
    assert r.status_code == 409
    assert r.json()["error"] == "conflict"
    assert amount_engine.calls == 1


def test_invalid_transaction_names_the_field(
    client: TestClient, keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    r = client.post("/v1/score", json=txn_body(amount=-5), headers=keys["scorer"])
    assert r.status_code == 422
    err = r.json()
    assert err["field"] == "amount"
    assert "refund or reversal" in err["reason"]
    assert err["request_id"] == r.headers["X-Request-ID"]
    r = client.post("/v1/score", json=txn_body(currency="XXZ"), headers=keys["scorer"])
    assert (r.json()["field"], r.json()["reason"]) == (
        "currency",
        "is not an ISO 4217 currency code",
    )
    r = client.post(
        "/v1/score", json=txn_body(timestamp="2024-03-01T12:00:00"), headers=keys["scorer"]
    )
    assert r.json()["field"] == "timestamp"
    r = client.post(
        "/v1/score",
        content=b"{not json",
        headers={**keys["scorer"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert amount_engine.calls == 0


def test_batch_in_order_with_replays(
    client: TestClient, keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    client.post("/v1/score", json=txn_body("b-2", amount=9000.0), headers=keys["scorer"])
    batch = [txn_body(f"b-{i}", amount=1000.0 * (i + 1)) for i in range(3)]
    batch[2] = txn_body("b-2", amount=9000.0)
    r = client.post("/v1/score/batch", json=batch, headers=keys["scorer"])
    assert r.status_code == 200, r.text
    assert [d["transaction_id"] for d in r.json()] == ["b-0", "b-1", "b-2"]
    assert r.json()[2]["action"] == "block"
    assert amount_engine.calls == 3


def test_batch_size_is_limited(
    make_client: Callable[..., TestClient], keys: Keys, txn_body: Body
) -> None:
    client = make_client(api={"max_batch": 2})
    r = client.post(
        "/v1/score/batch", json=[txn_body(f"b-{i}") for i in range(3)], headers=keys["scorer"]
    )
    assert r.status_code == 422
    assert r.json()["field"] == "body"
    r = client.post("/v1/score/batch", json=[], headers=keys["scorer"])
    assert r.status_code == 422


def test_without_engine_scoring_is_unavailable(
    make_client: Callable[..., TestClient], keys: Keys, txn_body: Body
) -> None:
    client = make_client(engine=None)
    r = client.post("/v1/score", json=txn_body(), headers=keys["scorer"])
    assert r.status_code == 503
    assert r.json()["error"] == "not_ready"


def test_engine_errors_are_not_swallowed_and_nothing_is_recorded(
    make_client: Callable[..., TestClient],
    keys: Keys,
    txn_body: Body,
    amount_engine: Any,
    ledger: SqlLedger,
) -> None:
    from frisk.errors import ModelError

    def broken(_txn: Any) -> Any:
        raise ModelError("booster failed")

    amount_engine.decide = broken
    r = make_client().post("/v1/score", json=txn_body("t-x"), headers=keys["scorer"])
    assert r.status_code == 500
    assert r.json() == {
        "error": "internal",
        "message": "internal error",
        "request_id": r.headers["X-Request-ID"],
    }
    assert ledger.get_decision("t-x") is None


def test_get_decision(client: TestClient, keys: Keys, txn_body: Body) -> None:
    scored = client.post("/v1/score", json=txn_body("t-1"), headers=keys["scorer"]).json()
    r = client.get("/v1/decisions/t-1", headers=keys["analyst"])
    assert r.status_code == 200
    assert r.json() == scored
    assert client.get("/v1/decisions/nope", headers=keys["analyst"]).status_code == 404


def test_get_decision_with_the_features_it_read(
    client: TestClient, keys: Keys, txn_body: Body, ledger: SqlLedger
) -> None:
    scored = client.post("/v1/score", json=txn_body("t-f"), headers=keys["scorer"]).json()
    r = client.get("/v1/decisions/t-f?include=features", headers=keys["analyst"])
    assert r.status_code == 200
    body = r.json()
    recorded = ledger.get_decision("t-f")
    assert recorded is not None
    assert recorded.features
    assert body.pop("features") == dict(recorded.features)
    assert body == scored
    bad = client.get("/v1/decisions/t-f?include=secrets", headers=keys["analyst"])
    assert (bad.status_code, bad.json()["field"]) == (422, "query.include.0")
    assert (
        client.get("/v1/decisions/t-f?include=features", headers=keys["scorer"]).status_code == 403
    )
