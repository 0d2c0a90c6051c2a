"""/v1/keys (admin): create with a rate limit, list, revoke; and each key's own bucket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frisk.config import RateLimitSettings
from frisk.schema import Role
from frisk.service.ratelimit import Limit, RateLimiter, limit_for

Keys = dict[str, dict[str, str]]


def test_admins_create_list_and_revoke_keys(client: TestClient, keys: Keys, txn_body: Any) -> None:
    admin = keys["admin"]
    made = client.post(
        "/v1/keys", json={"role": "scorer", "name": "switch-1", "rate_limit": 50}, headers=admin
    )
    assert made.status_code == 201
    body = made.json()
    assert (body["role"], body["name"], body["rate_limit"]) == ("scorer", "switch-1", 50.0)
    new = {"X-API-Key": body["key"]}
    assert client.post("/v1/score", json=txn_body("k-1"), headers=new).status_code == 200

    listed = client.get("/v1/keys", headers=admin).json()["items"]
    mine = [k for k in listed if k["key_id"] == body["key_id"]]
    assert mine == [{k: v for k, v in body.items() if k != "key"}]
    assert all("key" not in k and "key_hash" not in k for k in listed)

    revoked = client.delete(f"/v1/keys/{body['key_id']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert body["key_id"] not in [
        k["key_id"] for k in client.get("/v1/keys", headers=admin).json()["items"]
    ]
    everything = client.get("/v1/keys", params={"include_revoked": True}, headers=admin).json()
    assert body["key_id"] in [k["key_id"] for k in everything["items"]]
    assert client.delete("/v1/keys/000000000000", headers=admin).status_code == 404
    audit = client.get("/v1/audit", headers=admin).json()["items"]
    assert {"api_key.create", "api_key.revoke"} <= {entry["action"] for entry in audit}


@pytest.mark.parametrize("role", ["scorer", "analyst"])
def test_only_admins_manage_keys(client: TestClient, keys: Keys, role: str) -> None:
    assert client.get("/v1/keys", headers=keys[role]).status_code == 403
    assert client.post("/v1/keys", json={"role": "admin"}, headers=keys[role]).status_code == 403


@pytest.mark.parametrize("limit", [0, -1, "many"])
def test_a_rate_limit_must_be_positive(client: TestClient, keys: Keys, limit: Any) -> None:
    r = client.post("/v1/keys", json={"role": "scorer", "rate_limit": limit}, headers=keys["admin"])
    assert r.status_code == 422


def test_a_keys_own_limit_answers_429_with_retry_after(
    make_client: Callable[..., TestClient], keys: Keys, txn_body: Any
) -> None:
    client = make_client(security={"rate_limit": {"burst_seconds": 2}})
    made = client.post(
        "/v1/keys", json={"role": "scorer", "rate_limit": 1}, headers=keys["admin"]
    ).json()
    slow = {"X-API-Key": made["key"]}
    codes = [
        client.post("/v1/score", json=txn_body(f"r-{i}"), headers=slow).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]  # a bucket of 2 (1/s for 2 s)
    refused = client.post("/v1/score", json=txn_body("r-9"), headers=slow)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    # The other scorer key has the role's default and is not held back.
    assert client.post("/v1/score", json=txn_body("r-x"), headers=keys["scorer"]).status_code == 200


def test_limits_come_from_the_key_then_its_role() -> None:
    settings = RateLimitSettings()
    assert limit_for(settings, Role.SCORER, None) == Limit(2000.0, 4000.0)
    assert limit_for(settings, Role.ANALYST, None) == Limit(200.0, 400.0)
    assert limit_for(settings, Role.ADMIN, 5.0) == Limit(5.0, 10.0)
    assert limit_for(settings, Role.SCORER, 0.1) == Limit(0.1, 1.0)  # at least one request


def test_the_in_process_limiter_keeps_a_bucket_per_key_at_its_limit() -> None:
    now = [0.0]
    limiter = RateLimiter(per_second=100.0, burst=100, clock=lambda: now[0])
    slow = Limit(1.0, 2.0)
    assert limiter.acquire("a", 1, slow) == 0
    assert limiter.acquire("a", 1, slow) == 0
    assert limiter.acquire("a", 1, slow) == pytest.approx(1.0)
    assert limiter.acquire("b", 50) == 0  # another key, the default limit
    now[0] = 1.0
    assert limiter.acquire("a", 1, slow) == 0
