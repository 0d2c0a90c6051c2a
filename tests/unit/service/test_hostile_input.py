"""Issue #20: input that must not hurt another caller, refused with a 422 naming the field.

Each test here failed on main before the fix (see the issue's numbered cases): far-future and
ancient timestamps were accepted (1), a NUL in an id was accepted on SQLite while PostgreSQL
refused it (2), an amount of 1e308 gave a 500 (3), and the smaller cases of (5).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frisk.store import SqlLedger

Body = Callable[..., dict[str, Any]]
Keys = dict[str, dict[str, str]]
LIVE = {"event_behind_days": 30.0, "event_ahead_seconds": 300.0}


def _now(offset: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC).replace(microsecond=0) + offset).isoformat()


@pytest.fixture
def live(make_client: Callable[..., TestClient]) -> TestClient:
    """An app with the default live window (the test session widens it for simulated data)."""
    return make_client(api=LIVE)


def _refused(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field, body
    return dict(body)


# -- 1: times far from the server's clock -------------------------------------------------------


@pytest.mark.parametrize(
    "stamp",
    [
        "9999-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        "1900-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
    ],
)
def test_a_time_far_from_the_clock_is_refused_and_changes_nothing(
    live: TestClient, keys: Keys, txn_body: Body, ledger: SqlLedger, amount_engine: Any, stamp: str
) -> None:
    r = live.post("/v1/score", json=txn_body("far", timestamp=stamp), headers=keys["scorer"])
    _refused(r, "timestamp")
    assert amount_engine.calls == 0
    assert ledger.get_decision("far") is None


def test_the_live_window_is_the_server_clock_give_or_take_the_settings(
    live: TestClient, keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    post = lambda i, at: live.post(  # noqa: E731
        "/v1/score", json=txn_body(f"w-{i}", timestamp=at), headers=keys["scorer"]
    )
    assert post(1, _now()).status_code == 200
    assert post(2, _now(timedelta(minutes=4))).status_code == 200  # within the skew
    assert post(3, _now(-timedelta(days=29))).status_code == 200
    reason = _refused(post(4, _now(timedelta(hours=1))), "timestamp")["reason"]
    assert "ahead of the server's clock" in reason
    assert "behind" in _refused(post(5, _now(-timedelta(days=31))), "timestamp")["reason"]
    assert amount_engine.calls == 3


def test_a_batch_is_held_to_the_same_window(
    live: TestClient, keys: Keys, txn_body: Body, ledger: SqlLedger
) -> None:
    batch = [txn_body("b-1", timestamp=_now()), txn_body("b-2", timestamp="9999-12-31T00:00:00Z")]
    r = live.post("/v1/score/batch", json=batch, headers=keys["scorer"])
    assert r.status_code == 422
    assert ledger.get_decision("b-2") is None


# -- 2: NUL and other control characters, on every back end --------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("transaction_id", "t\x00nul"),
        ("payer_id", "payer\x00"),
        ("payee_id", "a\x1bb"),
        ("device_id", "d\u202e1"),  # right-to-left override: reads as another id
        ("merchant_category", "grocery\x00"),
        ("channel", "web\x7f"),
    ],
)
def test_control_characters_are_refused_naming_the_field(
    client: TestClient,
    keys: Keys,
    txn_body: Body,
    ledger: SqlLedger,
    amount_engine: Any,
    field: str,
    value: str,
) -> None:
    body = {**txn_body("ctl"), field: value}
    r = client.post("/v1/score", json=body, headers=keys["scorer"])
    assert "control or formatting" in _refused(r, field)["reason"]
    assert amount_engine.calls == 0
    assert ledger.get_decision("ctl") is None
    assert ledger.get_decision("t\x00nul") is None


def test_a_nul_in_an_extra_value_is_refused(
    client: TestClient, keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    r = client.post(
        "/v1/score", json=txn_body("x", extra={"note": "a\x00b"}), headers=keys["scorer"]
    )
    _refused(r, "extra")
    assert amount_engine.calls == 0


# -- 3: amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1e308, 1e11, 10_000_000_000.01])
def test_an_amount_past_the_bound_is_a_422_not_a_500(
    client: TestClient, keys: Keys, txn_body: Body, amount_engine: Any, amount: float
) -> None:
    r = client.post("/v1/score", json=txn_body("big", amount=amount), headers=keys["scorer"])
    assert "10,000,000,000" in _refused(r, "amount")["reason"]
    assert amount_engine.calls == 0


def test_the_largest_amount_is_accepted(client: TestClient, keys: Keys, txn_body: Body) -> None:
    r = client.post("/v1/score", json=txn_body("max", amount=1e10), headers=keys["scorer"])
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("amount", ["12.5", True, "1e308", None, [12.5]])
def test_an_amount_is_a_json_number_never_coerced(
    client: TestClient, keys: Keys, txn_body: Body, amount_engine: Any, amount: object
) -> None:
    r = client.post("/v1/score", json=txn_body("typed", amount=amount), headers=keys["scorer"])
    _refused(r, "amount")
    assert amount_engine.calls == 0


def test_more_decimal_places_than_the_currency_has_are_refused(
    client: TestClient, keys: Keys, txn_body: Body
) -> None:
    r = client.post(
        "/v1/score", json=txn_body("jpy", amount=100.5, currency="JPY"), headers=keys["scorer"]
    )
    assert "decimal places" in _refused(r, "amount")["reason"]
    cents = client.post("/v1/score", json=txn_body("eur", amount=12.345), headers=keys["scorer"])
    assert "decimal places" in _refused(cents, "amount")["reason"]
    # 0.30000000000000004 is 0.30 in float noise, not a third decimal place.
    fine = client.post("/v1/score", json=txn_body("eur2", amount=0.1 + 0.2), headers=keys["scorer"])
    assert fine.status_code == 200, fine.text


def test_an_upload_with_an_amount_past_the_bound_reports_the_row(
    client: TestClient, keys: Keys
) -> None:
    csv = (
        "transaction_id,timestamp,amount,currency,payer_id,payee_id\n"
        "u-1,2024-03-01T12:00:00Z,12.5,EUR,p,q\n"
        "u-2,2024-03-01T12:01:00Z,1e308,EUR,p,q\n"
    )
    r = client.post(
        "/v1/uploads", files={"file": ("x.csv", csv, "text/csv")}, headers=keys["scorer"]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["scored"], body["invalid"]) == (1, 1)
    assert body["problems"][0]["transaction_id"] == "u-2"
    assert body["problems"][0]["column"] == "amount"


# -- 5: the smaller cases -----------------------------------------------------------------------


def test_the_same_instant_in_another_offset_is_the_same_body(
    client: TestClient, keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    first = client.post(
        "/v1/score", json=txn_body("o-1", timestamp="2024-03-01T12:00:00Z"), headers=keys["scorer"]
    )
    again = client.post(
        "/v1/score",
        json=txn_body("o-1", timestamp="2024-03-01T14:00:00+02:00", amount=120),
        headers=keys["scorer"],
    )
    assert first.status_code == 200
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert amount_engine.calls == 1


def test_a_batch_stopped_by_a_conflict_says_what_it_recorded(
    client: TestClient, keys: Keys, txn_body: Body, ledger: SqlLedger
) -> None:
    client.post("/v1/score", json=txn_body("c-2", amount=1.0), headers=keys["scorer"])
    batch = [txn_body("c-1"), txn_body("c-2", amount=2.0), txn_body("c-3")]
    r = client.post("/v1/score/batch", json=batch, headers=keys["scorer"])
    assert r.status_code == 409
    body = r.json()
    assert (body["index"], body["recorded"]) == (1, ["c-1"])
    assert "items 0 to 0 were decided and recorded" in body["message"]
    assert ledger.get_decision("c-1") is not None
    assert ledger.get_decision("c-3") is None


def test_an_upload_refuses_naive_times_as_the_json_api_does(
    client: TestClient, keys: Keys, txn_body: Body
) -> None:
    naive = client.post(
        "/v1/score", json=txn_body("n-0", timestamp="2024-03-01T12:00:00"), headers=keys["scorer"]
    )
    assert naive.status_code == 422
    csv = (
        "transaction_id,timestamp,amount,currency,payer_id,payee_id\n"
        "n-1,2024-03-01 12:00:00,12.5,EUR,p,q\n"
        "n-2,2024-03-01 12:00:00+00:00,12.5,EUR,p,q\n"
    )
    r = client.post(
        "/v1/uploads", files={"file": ("n.csv", csv, "text/csv")}, headers=keys["scorer"]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["scored"], body["invalid"]) == (1, 1)
    problem = body["problems"][0]
    assert (problem["row"], problem["column"], problem["transaction_id"]) == (
        1,
        "timestamp",
        "n-1",
    )
    assert "UTC offset" in problem["reason"]


def test_an_upload_error_never_shows_a_server_path(
    client: TestClient, keys: Keys, tmp_path: Path
) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir(exist_ok=True)
    (mappings / "strict.toml").write_text(
        '[columns]\ntransaction_id = "id"\ntimestamp = "ts"\namount = "amt"\n'
        'currency = "cur"\npayer_id = "payer"\npayee_id = "payee"\n'
        '[options]\nduplicates = "error"\n'
    )
    csv = "id,ts,amt,cur,payer,payee\nd-1,2024-03-01T12:00:00Z,1,EUR,p,q\n" * 2
    r = client.post(
        "/v1/uploads",
        files={"file": ("dups.csv", csv, "text/csv")},
        data={"mapping": "strict"},
        headers=keys["scorer"],
    )
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert "dups.csv" in message
    assert "/tmp" not in message
    assert "frisk-upload-" not in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("transaction_id", "t\x85nel"), ("source", "chargeback\u202e"), ("transaction_id", "a\x00")],
)
def test_labels_are_held_to_the_same_text_rules(
    client: TestClient, keys: Keys, field: str, value: str
) -> None:
    body = {"transaction_id": "l-1", "label": "fraud", field: value}
    r = client.post("/v1/labels", json=body, headers=keys["admin"])
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
