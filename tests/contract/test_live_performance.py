"""Live performance against numbers worked out by hand, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from frisk.monitoring import Performance, PerformanceRow, live_performance
from frisk.store import DecisionRecord, SqlLedger, default_url, open_ledger
from frisk.store.tables import shadow_decisions

DAY1 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
DAY2 = datetime(2024, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    if request.param == "sqlite":
        url = default_url(tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
    store = open_ledger(url)
    _fill(store)
    yield store
    store.close()


def _decision(txn: str, when: datetime, action: str, amount: float, version: str) -> DecisionRecord:
    return DecisionRecord(
        transaction_id=txn,
        body_hash="a" * 64,
        event_time=when,
        transaction={"transaction_id": txn, "amount": amount, "currency": "EUR"},
        features={"amount": amount},
        score=0.9 if action != "allow" else 0.1,
        risk_score=90 if action != "allow" else 10,
        tier="high" if action != "allow" else "low",
        action=action,
        reasons=[],
        model_version=version,
        timings={"total": 1.0},
        created_at=datetime.now(UTC),
    )


# id: (event time, action, amount, version, label)
DECISIONS = {
    "t1": (DAY1, "allow", 100.0, "m-1", "fraud"),
    "t2": (DAY1, "review", 200.0, "m-1", "fraud"),
    "t3": (DAY1, "block", 300.0, "m-1", "legit"),
    "t4": (DAY1, "allow", 50.0, "m-1", None),
    "t5": (DAY1, "review", 10.0, "m-1", None),
    # The last second of day 1 (UTC) by the retired model: still day 1 on every back end.
    "t6": (datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC), "allow", 70.0, "m-0", "fraud"),
    "t7": (DAY2, "block", 1000.0, "m-1", "fraud"),
    "t8": (DAY2 + timedelta(hours=1), "allow", 20.0, "m-1", None),
}
# What the challenger m-2 decided in shadow; "ghost" has no served decision and is ignored.
SHADOW = {"t1": "block", "t2": "allow", "t3": "allow", "t7": "review", "ghost": "block"}


def _fill(ledger: SqlLedger) -> None:
    for txn, (when, action, amount, version, label) in DECISIONS.items():
        ledger.record_decision(_decision(txn, when, action, amount, version))
        if label is not None:
            ledger.set_label(txn, label, label_timestamp=when, source="test", actor="test")
    # A label for a transaction the ledger never decided counts nowhere.
    ledger.set_label("unknown", "fraud", label_timestamp=DAY1, source="test", actor="test")
    with ledger.engine.begin() as conn:
        conn.execute(
            shadow_decisions.insert(),
            [
                {
                    "transaction_id": txn,
                    "model_version": "m-2",
                    "score": 0.5,
                    "risk_score": 50,
                    "tier": "medium",
                    "action": action,
                    "created_at": datetime.now(UTC),
                }
                for txn, action in SHADOW.items()
            ],
        )


def _find(rows: list[PerformanceRow], version: str, day: date | None = None) -> PerformanceRow:
    (found,) = [r for r in rows if r.model_version == version and r.day == day]
    return found


def _performance(ledger: SqlLedger, days: int = 30) -> Performance:
    return live_performance(
        ledger, days=days, budget=0.005, production="m-1", shadow=["m-2", "m-3"]
    )


def test_per_day_and_model(ledger: SqlLedger) -> None:
    result = _performance(ledger)
    assert (result.start, result.end) == (date(2024, 2, 2), date(2024, 3, 2))  # 30 days, inclusive
    day1 = _find(result.days, "m-1", date(2024, 3, 1))
    # t1..t5: alerts t2 t3 t5; labelled t1 t2 t3; fraud t1 t2; alerted fraud t2.
    assert (day1.role, day1.decisions, day1.alerts, day1.labelled, day1.fraud) == (
        "production",
        5,
        3,
        3,
        2,
    )
    assert day1.alerted_fraud == 1
    assert day1.alert_rate == pytest.approx(0.6)
    assert day1.precision == pytest.approx(1 / 3)
    assert day1.recall == pytest.approx(0.5)
    assert (day1.fraud_amount, day1.amount_caught) == (300.0, 200.0)

    retired = _find(result.days, "m-0", date(2024, 3, 1))
    assert (retired.role, retired.decisions, retired.alerts, retired.fraud) == ("retired", 1, 0, 1)
    assert retired.precision is None
    assert retired.recall == 0.0
    assert (retired.fraud_amount, retired.amount_caught) == (70.0, 0.0)

    day2 = _find(result.days, "m-1", date(2024, 3, 2))
    assert (day2.decisions, day2.alerts, day2.labelled, day2.fraud, day2.alerted_fraud) == (
        2,
        1,
        1,
        1,
        1,
    )
    assert (day2.precision, day2.recall, day2.amount_caught) == (1.0, 1.0, 1000.0)


def test_shadow_rows_use_the_served_decisions_time_amount_and_label(ledger: SqlLedger) -> None:
    result = _performance(ledger)
    day1 = _find(result.days, "m-2", date(2024, 3, 1))
    # t1 block (fraud), t2 allow (fraud), t3 allow (legit).
    assert (day1.role, day1.decisions, day1.alerts, day1.fraud, day1.alerted_fraud) == (
        "shadow",
        3,
        1,
        2,
        1,
    )
    assert (day1.precision, day1.recall, day1.amount_caught) == (1.0, 0.5, 100.0)
    assert _find(result.days, "m-2", date(2024, 3, 2)).alerted_fraud == 1


def test_totals_per_model_production_first(ledger: SqlLedger) -> None:
    models = _performance(ledger).models
    assert [(m.model_version, m.role) for m in models] == [
        ("m-1", "production"),
        ("m-2", "shadow"),
        ("m-3", "shadow"),  # named as a shadow, nothing decided yet
        ("m-0", "retired"),
    ]
    m1 = models[0]
    assert (m1.decisions, m1.alerts, m1.labelled, m1.fraud, m1.alerted_fraud) == (7, 4, 4, 3, 2)
    assert (m1.precision, m1.recall) == (0.5, pytest.approx(2 / 3))
    assert (m1.fraud_amount, m1.amount_caught) == (1300.0, 1200.0)
    assert m1.alert_rate == pytest.approx(4 / 7)
    m2 = models[1]
    assert (m2.decisions, m2.alerts, m2.alerted_fraud, m2.amount_caught) == (4, 2, 2, 1100.0)
    assert m2.precision == 1.0
    assert models[2].decisions == 0
    assert models[2].precision is None


def test_the_window_ends_at_the_newest_decisions_day(ledger: SqlLedger) -> None:
    result = _performance(ledger, days=1)
    assert (result.start, result.end) == (date(2024, 3, 2), date(2024, 3, 2))
    assert {r.day for r in result.days} == {date(2024, 3, 2)}
    assert result.models[0].decisions == 2
    body = result.to_dict()
    assert body["days"][0]["day"] == "2024-03-02"
    assert "day" not in body["models"][0]


def test_an_empty_ledger(tmp_path: Path) -> None:
    ledger = open_ledger(default_url(tmp_path))
    try:
        result = live_performance(ledger, days=7, budget=0.01, production="m-1")
    finally:
        ledger.close()
    assert result.days == []
    assert result.start is None
    assert [(m.model_version, m.decisions) for m in result.models] == [("m-1", 0)]
