"""``archive``, on every ledger back end: old decisions, labels and reviews move to Parquet by day,
the ledger shrinks, and every reader of history reads the same through the archive."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from frisk.errors import InputError
from frisk.monitoring.retrain import ledger_history, point_in_time_labels
from frisk.store import (
    DecisionRecord,
    LabelWrite,
    ReviewAction,
    ReviewChange,
    SqlLedger,
    default_url,
    open_ledger,
)
from frisk.store.archive import archived_days, read_decisions, read_labels

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
DAYS = 3
PER_DAY = 7


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    if request.param == "sqlite":
        url = default_url(tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
    store = open_ledger(url)
    yield store
    store.close()


def decision(i: int) -> DecisionRecord:
    day, n = divmod(i, PER_DAY)
    at = T0 + timedelta(days=day, hours=n)
    txn_id = f"t{i:03d}"
    return DecisionRecord(
        transaction_id=txn_id,
        body_hash=f"{i:064d}",
        event_time=at,
        transaction={
            "transaction_id": txn_id,
            "timestamp": at.isoformat(),
            "amount": 10.0 + i,
            "currency": "EUR",
            "payer_id": f"p{i % 3}",
            "payee_id": f"m{i % 2}",
            "extra": {"account_age_days": i},
        },
        features={
            "amount": 10.0 + i,
            "txn_count_by_payer_1h": float(n),
            "channel": "card",
            "missing": None,
        },
        score=i / 100,
        risk_score=i,
        tier="low",
        action="review" if i % 5 == 0 else "allow",
        reasons=[],
        model_version="m-1",
        timings={"total": 0.5},
        created_at=at + timedelta(seconds=1),
        policy={"decided_by": "model", "matched": []},
    )


@pytest.fixture
def recorded(ledger: SqlLedger) -> list[DecisionRecord]:
    records = [decision(i) for i in range(DAYS * PER_DAY)]
    ledger.record_decisions(records)
    writes = [
        LabelWrite(r.transaction_id, "fraud" if i % 4 == 0 else "legit", r.event_time, "chargeback")
        for i, r in enumerate(records)
        if i % 2 == 0
    ]
    ledger.set_labels(writes, actor="test")
    ledger.set_label(  # a changed label: history of two
        "t002", "fraud", label_timestamp=T0 + timedelta(hours=5), source="analyst", actor="test"
    )
    ledger.reviews.change(
        "t005", ReviewChange(ReviewAction.ASSIGN, assignee="ana"), actor="test", at=T0
    )
    return records


def _comparable(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            r["transaction_id"],
            r["event_time"],
            r["transaction"],
            r["features"],
            r["score"],
            r["risk_score"],
            r["tier"],
            r["action"],
            r["policy"],
            r["label"],
        )
        for r in rows
    ]


def test_archive_moves_old_days_out_and_readers_see_the_same(
    ledger: SqlLedger, recorded: list[DecisionRecord], tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    before_rows = _comparable(ledger.decisions_with_labels())
    history = ledger_history(ledger)
    cutoff = T0 + timedelta(days=DAYS)
    labelled = point_in_time_labels(history, ledger, cutoff)
    rows_before = {t.table: t.rows for t in ledger.stats()}

    until = T0.replace(hour=0) + timedelta(days=2)  # days 1 and 2 go
    result = ledger.archive(until, archive, batch=3)

    moved = [r for r in recorded if r.event_time < until]
    assert result.rows["decisions"] == len(moved) == 2 * PER_DAY
    assert result.rows["reviews"] == 1
    assert result.rows["label_history"] == sum(1 for i, _ in enumerate(moved) if i % 2 == 0) + 1
    assert archived_days(archive) == [T0.date(), (T0 + timedelta(days=1)).date()]
    rows_after = {t.table: t.rows for t in ledger.stats()}
    assert rows_after["decisions"] == rows_before["decisions"] - len(moved)
    assert rows_after["reviews"] == rows_before["reviews"] - 1
    assert rows_after["labels"] < rows_before["labels"]
    for record in moved:
        assert ledger.get_decision(record.transaction_id) is None
    kept = ledger.get_decision(recorded[-1].transaction_id)
    assert kept == recorded[-1]

    # Every reader of history, given the archive, reads what it read before.
    assert _comparable(ledger.decisions_with_labels(archive=archive)) == before_rows
    assert ledger_history(ledger, archive=archive).equals(history)
    assert point_in_time_labels(
        ledger_history(ledger, archive=archive), ledger, cutoff, archive
    ).equals(labelled)
    # The archive is plain Parquet, by day, its features as recorded.
    frame = read_decisions(archive)
    assert frame.height == len(moved)
    assert frame.get_column("transaction_id").to_list() == [r.transaction_id for r in moved]
    assert set(read_labels(archive).get_column("transaction_id")) <= {
        r.transaction_id for r in moved
    }

    # Nothing left before the date: a second run moves nothing.
    again = ledger.archive(until, archive)
    assert again.rows["decisions"] == 0
    assert again.days == set()


def test_a_label_for_an_archived_transaction_is_accepted_and_joined_at_retraining(
    ledger: SqlLedger, recorded: list[DecisionRecord], tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    ledger.archive(T0.replace(hour=0) + timedelta(days=1), archive)
    late = T0 + timedelta(days=2)
    (outcome,) = ledger.set_labels([LabelWrite("t001", "fraud", late, "chargeback")], actor="t")
    assert not outcome.known  # its decision is archived, the label is kept all the same
    cutoff = T0 + timedelta(days=DAYS)
    table = ledger_history(ledger, archive=archive)
    labelled = point_in_time_labels(table, ledger, cutoff, archive)
    row = labelled.filter(pl.col("transaction_id") == "t001").row(0, named=True)
    assert row["label"] == 1
    assert row["label_source"] == "chargeback"
    # And a backtest reads it too.
    (backtested,) = [
        r for r in ledger.decisions_with_labels(archive=archive) if r["transaction_id"] == "t001"
    ]
    assert backtested["label"] == "fraud"


def test_a_naive_date_is_refused(ledger: SqlLedger, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="time zone"):
        ledger.archive(datetime(2024, 3, 1), tmp_path)
