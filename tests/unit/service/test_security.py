"""Keys, roles, rate limits, body size, CORS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frisk.service import keys
from frisk.service.keys import create_key, hash_key, key_id_of, log_id, revoke_key, verify_key
from frisk.service.ratelimit import RateLimiter
from frisk.store import Role, SqlLedger

Body = Callable[..., dict[str, Any]]
Keys = dict[str, dict[str, str]]


def test_keys_are_stored_as_hashes_and_audited(ledger: SqlLedger) -> None:
    key, record = create_key(ledger, Role.ADMIN, "ops", actor="alice")
    assert key_id_of(key) == record.key_id
    assert key not in str(ledger.get_api_key(record.key_id))
    assert record.key_hash == hash_key(key)
    assert verify_key(key, record)
    assert not verify_key(key + "x", record)
    assert key_id_of("frisk_nothex_x") is None
    assert log_id(record.key_id) != record.key_id
    revoke_key(ledger, record.key_id, actor="bob")
    stored = ledger.get_api_key(record.key_id)
    assert stored is not None
    assert not verify_key(key, stored)
    audit = ledger.audit_log(target=f"api_key:{record.key_id}")
    assert [(e.action, e.actor) for e in audit] == [
        ("api_key.revoke", "bob"),
        ("api_key.create", "alice"),
    ]


def test_routes_need_a_key_but_health_checks_and_docs(client: TestClient) -> None:
    for path in ("/health", "/ready", "/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    for method, path in [
        ("POST", "/v1/score"),
        ("POST", "/v1/score/batch"),
        ("GET", "/v1/decisions/t-1"),
        ("GET", "/metrics"),
        ("GET", "/v1/stats"),
    ]:
        r = client.request(method, path)
        assert r.status_code == 401, path
        assert r.json()["error"] == "unauthenticated"


def test_bad_keys_are_refused(client: TestClient, keys: Keys, ledger: SqlLedger) -> None:
    scorer = keys["scorer"]["X-API-Key"]
    scored = {"json": [], "headers": {"X-API-Key": "nonsense"}}
    assert client.post("/v1/score/batch", **scored).status_code == 401
    tampered = scorer[:-1] + ("B" if scorer.endswith("A") else "A")  # always a different key
    scored["headers"] = {"X-API-Key": tampered}
    assert client.post("/v1/score/batch", **scored).status_code == 401
    scored["headers"] = {"Authorization": f"Bearer {scorer}"}
    assert client.post("/v1/score/batch", **scored).status_code not in (401, 403)


def test_revocation_takes_effect(
    make_client: Callable[..., TestClient], keys: Keys, ledger: SqlLedger
) -> None:
    client = make_client(security={"key_cache_seconds": 0})
    headers = keys["analyst"]
    assert client.get("/v1/stats", headers=headers).status_code == 200
    key_id = key_id_of(headers["X-API-Key"])
    assert key_id is not None
    revoke_key(ledger, key_id, actor="test")
    assert client.get("/v1/stats", headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("scorer", "/v1/decisions/t-1", 403),
        ("scorer", "/v1/stats", 403),
        ("scorer", "/metrics", 403),
        ("analyst", "/v1/decisions/t-1", 404),
        ("analyst", "/v1/stats", 200),
        ("admin", "/v1/decisions/t-1", 404),
        ("admin", "/metrics", 200),
    ],
)
def test_roles(client: TestClient, keys: Keys, role: str, path: str, status: int) -> None:
    assert client.get(path, headers=keys[role]).status_code == status


def test_analyst_may_not_score(client: TestClient, keys: Keys, txn_body: Body) -> None:
    r = client.post("/v1/score", json=txn_body(), headers=keys["analyst"])
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    assert client.post("/v1/score", json=txn_body(), headers=keys["admin"]).status_code == 200


def test_rate_limit_answers_429_with_retry_after(
    make_client: Callable[..., TestClient], keys: Keys
) -> None:
    client = make_client(security={"rate_limit": {"per_second": 0.5, "burst": 3}})
    codes = [client.get("/v1/stats", headers=keys["analyst"]).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/v1/stats", headers=keys["analyst"])
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) in (1, 2)
    # Buckets are per key; /ready has none (no key).
    assert client.get("/v1/stats", headers=keys["admin"]).status_code == 200
    assert client.get("/ready").status_code == 200


def test_batch_costs_a_token_per_transaction(
    make_client: Callable[..., TestClient], keys: Keys, txn_body: Body
) -> None:
    # Scorer keys have their own default (payment traffic): 0.1/s with 50 s of it, 5 tokens.
    client = make_client(security={"rate_limit": {"scorer_per_second": 0.1, "burst_seconds": 50}})
    batch = [txn_body(f"b-{i}") for i in range(4)]
    assert client.post("/v1/score/batch", json=batch, headers=keys["scorer"]).status_code == 200
    r = client.post("/v1/score", json=txn_body("one"), headers=keys["scorer"])
    assert r.status_code == 200
    r = client.post("/v1/score", json=txn_body("two"), headers=keys["scorer"])
    assert r.status_code == 429


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(per_second=2.0, burst=2, clock=lambda: now[0])
    assert limiter.acquire("k") == 0
    assert limiter.acquire("k") == 0
    assert limiter.acquire("k") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.acquire("k") == 0
    now[0] = 100.0
    assert limiter.acquire("k", 2) == 0
    assert limiter.acquire("k", 5) == pytest.approx(1.0)  # more than a burst: a full refill
    assert RateLimiter.retry_after(0.01) == 1


def test_large_bodies_are_refused_with_413(
    make_client: Callable[..., TestClient], keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    client = make_client(security={"max_body_bytes": 2048})
    body = txn_body(extra={"note": "x" * 4096})
    r = client.post("/v1/score", json=body, headers=keys["scorer"])
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"
    assert amount_engine.calls == 0


def test_cors_is_closed_by_default_and_opens_for_listed_origins(
    make_client: Callable[..., TestClient],
) -> None:
    preflight = {"Origin": "https://dash.example", "Access-Control-Request-Method": "POST"}
    closed = make_client().options("/v1/score", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    open_ = make_client(security={"cors": {"allow_origins": ["https://dash.example"]}})
    r = open_.options("/v1/score", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "https://dash.example"
    other = open_.options(
        "/v1/score",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_a_cached_principal_expires_with_its_key_record(
    ledger: SqlLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(keys, "time", SimpleNamespace(monotonic=lambda: now[0]))
    cache = keys.KeyCache(ledger, ttl=10)
    key, record = create_key(ledger, Role.SCORER, "cached", actor="test")

    def principal(presented: str) -> keys.Principal | None:
        return asyncio.run(cache.principal(presented))

    first = principal(key)
    assert first is not None
    assert (first.key_id, first.role) == (record.key_id, Role.SCORER)
    assert principal(key + "x") is None
    assert principal("not a key") is None
    revoke_key(ledger, record.key_id, actor="test")
    now[0] += 9.9  # the record, and so the principal, are trusted for the cache's ttl
    assert principal(key) == first
    now[0] += 0.2
    assert principal(key) is None
