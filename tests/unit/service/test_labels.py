"""POST /v1/labels and GET /v1/labels/{id} through the app: storage, history, checks, engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frisk.store import SqlLedger

Body = Callable[..., dict[str, Any]]
Keys = dict[str, dict[str, str]]
PAST = "2024-03-02T08:00:00+00:00"


class LabelledEngine:
    """The amount engine with label features: records the labels it is handed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_version = inner.model_version
        self.labels: list[tuple[str, bool, datetime, datetime | None]] = []

    def ready(self) -> bool:
        return True

    def reload(self) -> None:
        pass

    def decide(self, txn: Any) -> Any:
        return self.inner.decide(txn)

    def apply_label(
        self,
        transaction_id: str,
        fraud: bool,
        label_timestamp: datetime,
        *,
        recorded_at: datetime | None = None,
    ) -> None:
        self.labels.append((transaction_id, fraud, label_timestamp, recorded_at))


@pytest.fixture
def engine(amount_engine: Any) -> LabelledEngine:
    return LabelledEngine(amount_engine)


@pytest.fixture
def app(make_client: Callable[..., TestClient], engine: LabelledEngine) -> TestClient:
    return make_client(engine)


def score(app: TestClient, keys: Keys, txn_body: Body, *ids: str) -> None:
    for txn in ids:
        r = app.post("/v1/score", json=txn_body(txn), headers=keys["scorer"])
        assert r.status_code == 200, r.text


def test_a_label_is_stored_and_applied(
    app: TestClient, keys: Keys, txn_body: Body, ledger: SqlLedger, engine: LabelledEngine
) -> None:
    score(app, keys, txn_body, "t-1")
    r = app.post(
        "/v1/labels",
        json={
            "transaction_id": "t-1",
            "label": "1",
            "source": "chargeback",
            "label_timestamp": PAST,
        },
        headers=keys["analyst"],
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["received"], got["applied"], got["new"], got["unknown"]) == (1, 1, 1, [])
    assert got["labels"] == [
        {"transaction_id": "t-1", "label": "fraud", "previous": None, "status": "new"}
    ]
    stored = ledger.get_label("t-1")
    assert stored is not None
    assert (stored.label, stored.source, stored.updated_by) == ("fraud", "chargeback", "analyst")
    assert stored.label_timestamp == datetime(2024, 3, 2, 8, tzinfo=UTC)
    assert engine.labels == [("t-1", True, stored.label_timestamp, stored.updated_at)]


def test_a_relabel_keeps_history_and_the_same_label_changes_nothing(
    app: TestClient, keys: Keys, txn_body: Body, engine: LabelledEngine
) -> None:
    score(app, keys, txn_body, "t-1")
    post = {"transaction_id": "t-1", "label": "fraud", "label_timestamp": PAST}
    assert app.post("/v1/labels", json=post, headers=keys["analyst"]).json()["new"] == 1
    again = app.post("/v1/labels", json=post, headers=keys["admin"]).json()
    assert (again["unchanged"], again["applied"]) == (1, 0)
    assert again["labels"][0]["previous"] == "fraud"
    changed = app.post(
        "/v1/labels", json={**post, "label": "legit", "source": "review"}, headers=keys["admin"]
    ).json()
    assert (changed["changed"], changed["applied"]) == (1, 1)
    assert changed["labels"][0] == {
        "transaction_id": "t-1",
        "label": "legit",
        "previous": "fraud",
        "status": "changed",
    }
    got = app.get("/v1/labels/t-1", headers=keys["analyst"]).json()
    assert got["label"]["label"] == "legit"
    assert got["label"]["updated_by"] == "admin"
    assert [(h["previous"], h["label"], h["source"], h["changed_by"]) for h in got["history"]] == [
        (None, "fraud", "api", "analyst"),
        ("fraud", "legit", "review", "admin"),
    ]
    assert [fraud for _, fraud, _, _ in engine.labels] == [True, False]


def test_unknown_ids_are_stored_and_reported_not_applied(
    app: TestClient, keys: Keys, txn_body: Body, ledger: SqlLedger, engine: LabelledEngine
) -> None:
    score(app, keys, txn_body, "t-1")
    batch = {
        "labels": [
            {"transaction_id": "t-1", "label": "legit"},
            {"transaction_id": "ghost", "label": "fraud", "source": "chargeback"},
        ]
    }
    got = app.post("/v1/labels", json=batch, headers=keys["analyst"]).json()
    assert got["unknown"] == ["ghost"]
    assert [i["status"] for i in got["labels"]] == ["new", "unknown"]
    assert (got["received"], got["new"], got["applied"]) == (2, 1, 1)
    assert ledger.get_label("ghost") is not None
    assert [t for t, *_ in engine.labels] == ["t-1"]
    assert app.get("/v1/labels/ghost", headers=keys["analyst"]).json()["label"]["label"] == "fraud"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"labels": [{"transaction_id": "a", "label": "fraud"}, {"transaction_id": "b"}]},
            "labels[1].label",
        ),
        (
            {
                "labels": [
                    {"transaction_id": "a", "label": "fraud"},
                    {"transaction_id": "b", "label": "maybe"},
                ]
            },
            "labels[1].label",
        ),
        (
            {
                "labels": [
                    {
                        "transaction_id": "a",
                        "label": "fraud",
                        "label_timestamp": "2999-01-01T00:00:00Z",
                    }
                ]
            },
            "labels[0].label_timestamp",
        ),
        (
            {
                "labels": [
                    {
                        "transaction_id": "a",
                        "label": "fraud",
                        "label_timestamp": "2024-01-01T00:00:00",
                    }
                ]
            },
            "labels[0].label_timestamp",
        ),
        ({"labels": [{"transaction_id": " ", "label": "fraud"}]}, "labels[0].transaction_id"),
        (
            {"labels": [{"transaction_id": "a", "label": "fraud", "colour": "red"}]},
            "labels[0].colour",
        ),
        ({"labels": ["a"]}, "labels[0]"),
        ({"labels": []}, "labels"),
        ({"labels": [], "more": 1}, "more"),
        ({"transaction_id": "a", "label": 2}, "label"),
        ([1, 2], "body"),
    ],
)
def test_an_invalid_item_names_itself_and_nothing_is_stored(
    app: TestClient, keys: Keys, ledger: SqlLedger, engine: LabelledEngine, body: Any, field: str
) -> None:
    r = app.post("/v1/labels", json=body, headers=keys["analyst"])
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert ledger.get_label("a") is None
    assert engine.labels == []


def test_batches_are_bounded_and_bad_json_is_a_422(app: TestClient, keys: Keys) -> None:
    many = {"labels": [{"transaction_id": f"x{i}", "label": "legit"} for i in range(101)]}
    r = app.post("/v1/labels", json=many, headers=keys["analyst"])
    assert (r.status_code, r.json()["field"]) == (422, "labels")
    r = app.post("/v1/labels", content=b"{nope", headers=keys["analyst"])
    assert (r.status_code, r.json()["field"]) == (422, "body")


def test_only_analysts_and_admins(app: TestClient, keys: Keys) -> None:
    body = {"transaction_id": "a", "label": "fraud"}
    assert app.post("/v1/labels", json=body).status_code == 401
    assert app.post("/v1/labels", json=body, headers=keys["scorer"]).status_code == 403
    assert app.get("/v1/labels/a", headers=keys["scorer"]).status_code == 403
    assert app.get("/v1/labels/a").status_code == 401
    assert app.get("/v1/labels/a", headers=keys["analyst"]).status_code == 404
    assert app.post("/v1/labels", json=body, headers=keys["admin"]).status_code == 200


def test_a_default_timestamp_is_now(app: TestClient, keys: Keys, ledger: SqlLedger) -> None:
    before = datetime.now(UTC)
    app.post("/v1/labels", json={"transaction_id": "a", "label": True}, headers=keys["analyst"])
    stored = ledger.get_label("a")
    assert stored is not None
    assert before <= stored.label_timestamp <= datetime.now(UTC) + timedelta(seconds=1)


def test_without_a_label_learning_engine_labels_are_stored_not_applied(
    make_client: Callable[..., TestClient], keys: Keys, txn_body: Body, ledger: SqlLedger
) -> None:
    plain = make_client()  # the amount engine has no label features
    score(plain, keys, txn_body, "t-1")
    got = plain.post(
        "/v1/labels", json={"transaction_id": "t-1", "label": "fraud"}, headers=keys["analyst"]
    ).json()
    assert (got["new"], got["applied"]) == (1, 0)
    assert ledger.get_label("t-1") is not None
