"""The review queue through the app: listing, detail, changes, permissions, audit, labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frisk.store import SqlLedger

from .test_labels import LabelledEngine

Body = Callable[..., dict[str, Any]]
Keys = dict[str, dict[str, str]]


@pytest.fixture
def engine(amount_engine: Any) -> LabelledEngine:
    return LabelledEngine(amount_engine)


@pytest.fixture
def app(
    make_client: Callable[..., TestClient], engine: LabelledEngine, keys: Keys, txn_body: Body
) -> TestClient:
    client = make_client(engine)
    # The amount engine: 5,000-7,999 is a review, 8,000 and more a block.
    for txn, amount, payee in (("r1", 6000.0, "shop"), ("r2", 7000.0, "shop"), ("b1", 9000.0, "x")):
        body = txn_body(txn, amount=amount, payee_id=payee)
        assert client.post("/v1/score", json=body, headers=keys["scorer"]).status_code == 200
    return client


def test_the_queue_lists_review_decisions_by_score(app: TestClient, keys: Keys) -> None:
    r = app.get("/v1/reviews", headers=keys["analyst"])
    assert r.status_code == 200, r.text
    got = r.json()
    assert [i["transaction_id"] for i in got["items"]] == ["r2", "r1"]
    assert (got["total"], got["next_cursor"]) == (2, None)
    item = got["items"][0]
    assert (item["status"], item["version"], item["amount"], item["payee_id"]) == (
        "open",
        0,
        7000.0,
        "shop",
    )
    assert item["age_seconds"] >= 0
    first = app.get("/v1/reviews?limit=1", headers=keys["analyst"]).json()
    assert [i["transaction_id"] for i in first["items"]] == ["r2"]
    rest = app.get(
        "/v1/reviews", params={"limit": 1, "cursor": first["next_cursor"]}, headers=keys["analyst"]
    ).json()
    assert [i["transaction_id"] for i in rest["items"]] == ["r1"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=closed", "status"), ("cursor=zzz", "cursor"), ("limit=501", "query.limit")],
)
def test_bad_filters_are_422(app: TestClient, keys: Keys, query: str, field: str) -> None:
    r = app.get(f"/v1/reviews?{query}", headers=keys["analyst"])
    assert r.status_code == 422
    assert r.json()["field"] == field


def test_resolving_labels_applies_and_audits(
    app: TestClient, keys: Keys, ledger: SqlLedger, engine: LabelledEngine
) -> None:
    r = app.post(
        "/v1/reviews/r1",
        json={"action": "assign", "assignee": "ann", "note": "mine", "version": 0},
        headers=keys["analyst"],
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["assignee"], r.json()["version"]) == ("assigned", "ann", 1)
    stale = app.post(
        "/v1/reviews/r1", json={"action": "unassign", "version": 0}, headers=keys["analyst"]
    )
    assert stale.status_code == 409
    r = app.post(
        "/v1/reviews/r1",
        json={"action": "resolve", "resolution": "fraud", "note": "confirmed", "version": 1},
        headers=keys["admin"],
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["resolution"], r.json()["updated_by"]) == (
        "resolved",
        "fraud",
        "admin",
    )
    label = ledger.get_label("r1")
    assert label is not None
    assert (label.label, label.source, label.updated_by) == ("fraud", "review", "admin")
    assert engine.labels == [("r1", True, label.label_timestamp, label.updated_at)]
    again = app.post(
        "/v1/reviews/r1", json={"action": "resolve", "resolution": "legit"}, headers=keys["admin"]
    )
    assert again.status_code == 409
    assert "reopen it first" in again.json()["message"]

    detail = app.get("/v1/reviews/r1", headers=keys["analyst"]).json()
    assert detail["review"]["status"] == "resolved"
    assert detail["decision"]["action"] == "review"
    assert detail["decision"]["reasons"][0]["feature"] == "amount"
    assert detail["label"]["label"] == "fraud"
    # Same event time: newest first, then by id descending.
    assert [h["transaction_id"] for h in detail["payee_history"]] == ["r2", "r1"]
    assert detail["payee_history"][1]["label"] == "fraud"
    assert {h["transaction_id"] for h in detail["payer_history"]} == {"r1", "r2", "b1"}
    assert [(a["action"], a["actor"]) for a in detail["audit"]] == [
        ("review.resolve", "admin"),
        ("review.assign", "analyst"),
    ]
    assert detail["audit"][0]["after"]["note"] == "confirmed"
    resolved = app.get("/v1/reviews?status=resolved", headers=keys["analyst"]).json()
    assert [i["transaction_id"] for i in resolved["items"]] == ["r1"]


def test_invalid_changes(app: TestClient, keys: Keys) -> None:
    def post(txn: str, body: dict[str, Any]) -> Any:
        return app.post(f"/v1/reviews/{txn}", json=body, headers=keys["analyst"])

    assert post("b1", {"action": "reopen"}).status_code == 404  # a block is not a review
    assert post("nope", {"action": "reopen"}).status_code == 404
    assert post("r1", {"action": "unassign"}).status_code == 409
    r = post("r1", {"action": "assign"})
    assert (r.status_code, r.json()["field"]) == (422, "assignee")
    r = post("r1", {"action": "resolve", "resolution": "maybe"})
    assert (r.status_code, r.json()["field"]) == (422, "resolution")
    r = post("r1", {"action": "close"})
    assert (r.status_code, r.json()["field"]) == (422, "action")
    assert app.get("/v1/reviews/b1", headers=keys["analyst"]).status_code == 404


def test_only_analysts_and_admins(app: TestClient, keys: Keys) -> None:
    change = {"action": "assign", "assignee": "x"}
    assert app.get("/v1/reviews").status_code == 401
    assert app.get("/v1/reviews", headers=keys["scorer"]).status_code == 403
    assert app.get("/v1/reviews/r1", headers=keys["scorer"]).status_code == 403
    assert app.post("/v1/reviews/r1", json=change).status_code == 401
    assert app.post("/v1/reviews/r1", json=change, headers=keys["scorer"]).status_code == 403
    assert app.post("/v1/reviews/r1", json=change, headers=keys["admin"]).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/v1/reviews?assignee=a%00", "/v1/reviews?tier=%00", "/v1/reviews/a%00", "/v1/labels/a%00"],
)
def test_a_nul_in_an_id_or_filter_is_a_422(app: TestClient, keys: Keys, path: str) -> None:
    # PostgreSQL refuses NUL in text: without the check this was a 503 there.
    r = app.get(path, headers=keys["analyst"])
    assert r.status_code == 422
