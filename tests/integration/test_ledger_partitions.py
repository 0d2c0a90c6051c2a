"""PostgreSQL's ``decisions`` partitioned by day (migration 0006, ``frisk.store.partitions``):
partitions ahead, a decision of any day recorded, ids unique across days, archive dropping whole
days, and the migration converting an existing ledger and back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from frisk.store import DecisionRecord, LabelWrite, SqlLedger, open_ledger
from frisk.store.archive import ArchiveResult, read_decisions
from frisk.store.migrate import _config, current_revision, head_revision, upgrade
from frisk.store.partitions import (
    AHEAD_DAYS,
    DEFAULT_PARTITION,
    ensure_partitions,
    partition_days,
    partition_name,
)

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def ledger(postgres_url: str) -> Iterator[SqlLedger]:
    store = open_ledger(postgres_url)
    yield store
    store.close()


def decision(txn_id: str, at: datetime = T0, **changes: object) -> DecisionRecord:
    base = DecisionRecord(
        transaction_id=txn_id,
        body_hash="a" * 64,
        event_time=at,
        transaction={"transaction_id": txn_id, "amount": 12.5, "currency": "EUR"},
        features={"amount": 12.5, "txn_count_by_payer_1h": 3.0},
        score=0.125,
        risk_score=13,
        tier="low",
        action="allow",
        reasons=[],
        model_version="m-1",
        timings={"total": 0.6},
        created_at=at + timedelta(seconds=1),
        degraded=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _where(ledger: SqlLedger, txn_id: str) -> list[str]:
    """The partitions holding rows of ``txn_id``."""
    with ledger.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT tableoid::regclass::text FROM decisions WHERE transaction_id = :id"
                ),
                {"id": txn_id},
            ).scalars()
        )


def _count(ledger: SqlLedger, table: str) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_partitions_exist_for_today_and_the_coming_days(ledger: SqlLedger) -> None:
    today = datetime.now(UTC).date()
    with ledger.engine.connect() as conn:
        days = partition_days(conn)
        default = conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": DEFAULT_PARTITION})
        assert default.scalar() is not None
    assert {today + timedelta(days=n) for n in range(AHEAD_DAYS + 1)} <= set(days)
    # Created ahead again later on (service start, archive runs): the missing ones only.
    later = today + timedelta(days=AHEAD_DAYS)
    assert ensure_partitions(ledger.engine, today=later, ahead=2) == [
        later + timedelta(days=1),
        later + timedelta(days=2),
    ]
    assert ensure_partitions(ledger.engine, today=later, ahead=2) == []
    now = datetime.now(UTC)
    ledger.record_decision(decision("today", now))
    assert _where(ledger, "today") == [partition_name(now.date())]


def test_a_day_without_partition_is_recorded_then_moves_into_its_partition(
    ledger: SqlLedger,
) -> None:
    old = decision("old", T0)
    assert ledger.record_decision(old) == old
    assert _where(ledger, "old") == [DEFAULT_PARTITION]
    assert ledger.has_decision("old")
    assert ledger.get_decision("old") == old
    # Its day's partition created later takes the row out of the default one, id kept.
    assert ensure_partitions(ledger.engine, today=T0.date(), ahead=0) == [T0.date()]
    assert _where(ledger, "old") == [partition_name(T0.date())]
    assert ledger.get_decision("old") == old
    assert ledger.record_decisions([decision("old", T0 + DAY, score=0.9)]) == [old]
    assert _count(ledger, "decisions") == _count(ledger, "decision_ids") == 1


def test_an_id_is_recorded_once_across_days(ledger: SqlLedger) -> None:
    ensure_partitions(ledger.engine, today=T0.date(), ahead=3)
    first = decision("dup", T0)
    assert ledger.record_decision(first) == first
    # The same id on another day (another partition), another body: the first one stands.
    other = decision("dup", T0 + 2 * DAY, body_hash="b" * 64, score=0.99)
    assert ledger.record_decision(other) == first
    # The same request replayed: the same record back, nothing added.
    assert ledger.record_decision(first) == first
    batch = [decision("new-1", T0 + DAY), other, decision("new-2", T0 + 3 * DAY)]
    assert ledger.record_decisions(batch) == [batch[0], first, batch[2]]
    assert _where(ledger, "dup") == [partition_name(T0.date())]
    assert _count(ledger, "decisions") == _count(ledger, "decision_ids") == 3
    assert ledger.has_decision("dup")
    assert not ledger.has_decision("never")
    assert ledger.get_decision("never") is None


def _three_days(ledger: SqlLedger, per_day: int = 5) -> list[DecisionRecord]:
    ensure_partitions(ledger.engine, today=T0.date(), ahead=2)
    records = [
        decision(f"d{day}-{n}", T0 + day * DAY + timedelta(minutes=n))
        for day in range(3)
        for n in range(per_day)
    ]
    ledger.record_decisions(records)
    ledger.set_labels(
        [LabelWrite(r.transaction_id, "fraud", r.event_time, "chargeback") for r in records],
        actor="test",
    )
    return records


def test_archive_drops_whole_days_and_the_ledger_shrinks(ledger: SqlLedger, tmp_path: Path) -> None:
    records = _three_days(ledger)
    before = {t.table: t for t in ledger.stats()}
    until = T0.replace(hour=0) + 2 * DAY
    result = ledger.archive(until, tmp_path / "archive", batch=2)

    assert result.dropped == {T0.date(), T0.date() + DAY}
    assert result.rows["decisions"] == result.rows["labels"] == 10
    with ledger.engine.connect() as conn:
        assert T0.date() not in partition_days(conn)
        assert T0.date() + DAY not in partition_days(conn)
        assert T0.date() + 2 * DAY in partition_days(conn)
    after = {t.table: t for t in ledger.stats()}
    assert after["decisions"].rows == before["decisions"].rows - 10
    assert after["decisions"].bytes < before["decisions"].bytes
    assert after["decision_ids"].rows == before["decision_ids"].rows - 10
    assert after["labels"].rows == before["labels"].rows - 10
    archived = read_decisions(tmp_path / "archive")
    assert archived.get_column("transaction_id").to_list() == [
        r.transaction_id for r in records[:10]
    ]
    for record in records[:10]:
        assert not ledger.has_decision(record.transaction_id)
    assert ledger.get_decision(records[-1].transaction_id) == records[-1]
    # An archived id may be recorded again (as before partitions): it is no longer known.
    again = records[0]
    assert ledger.record_decision(again) == again
    assert _where(ledger, again.transaction_id) == [DEFAULT_PARTITION]


def test_a_day_written_during_its_archive_is_deleted_row_by_row(
    ledger: SqlLedger, tmp_path: Path
) -> None:
    _three_days(ledger)
    late = decision("late", T0 + timedelta(hours=3))

    def arrives(result: ArchiveResult) -> None:
        if not ledger.has_decision("late"):
            ledger.record_decision(late)

    from frisk.store.archive import archive_ledger

    until = T0.replace(hour=0) + DAY
    result = archive_ledger(ledger.engine, until, tmp_path / "archive", progress=arrives)
    assert result.dropped == set()
    assert result.rows["decisions"] == 5
    # The late one stays for the next run; the archived ones left one batch at a time.
    assert _where(ledger, "late") == [partition_name(T0.date())]
    assert _count(ledger, partition_name(T0.date())) == 1
    assert _count(ledger, "decision_ids") == 11
    again = archive_ledger(ledger.engine, until, tmp_path / "archive")
    assert again.dropped == {T0.date()}
    assert again.rows["decisions"] == 1


def _downgrade(ledger: SqlLedger, revision: str) -> None:
    with ledger.engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_the_migration_converts_an_existing_ledger_and_back(postgres_url: str) -> None:
    ledger = open_ledger(postgres_url, migrate=False)
    try:
        upgrade(ledger.engine, "0005")
        records = [decision(f"m{i}", T0 + i * DAY) for i in range(3)]
        assert ledger.record_decisions(records) == records
        upgrade(ledger.engine)
        assert current_revision(ledger.engine) == head_revision()
        with ledger.engine.connect() as conn:
            days = set(partition_days(conn))
        assert {T0.date() + i * DAY for i in range(3)} <= days
        assert _where(ledger, "m1") == [partition_name(date(2024, 3, 2))]
        assert _count(ledger, "decision_ids") == 3
        assert [ledger.get_decision(r.transaction_id) for r in records] == records
        assert ledger.record_decision(decision("m0", T0 + DAY, score=0.5)) == records[0]

        _downgrade(ledger, "0005")
        with ledger.engine.connect() as conn:
            kind = conn.execute(
                sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass('decisions')")
            ).scalar_one()
            assert kind == "r"
            assert conn.execute(sa.text("SELECT to_regclass('decision_ids')")).scalar() is None
        assert _count(ledger, "decisions") == 3
        upgrade(ledger.engine)
        assert [ledger.get_decision(r.transaction_id) for r in records] == records
    finally:
        ledger.close()


def _columns(ledger: SqlLedger) -> list[str]:
    with ledger.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass('decisions') "
                    "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
                )
            ).scalars()
        )


def _action_index(ledger: SqlLedger) -> str:
    with ledger.engine.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT pg_get_indexdef('ix_decisions_action_score'::regclass)")
            ).scalar_one()
        )


def test_migration_0007_reorders_the_columns_of_a_partitioned_ledger_and_back(
    postgres_url: str,
) -> None:
    ledger = open_ledger(postgres_url, migrate=False)
    try:
        upgrade(ledger.engine, "0006")
        ensure_partitions(ledger.engine, today=T0.date(), ahead=2)  # the 4th day in the default
        records = [
            decision(f"r{i}", T0 + i * DAY, action="review" if i % 2 else "allow") for i in range(4)
        ]
        assert ledger.record_decisions(records) == records
        before = _columns(ledger)
        assert before[:3] == ["transaction_id", "body_hash", "event_time"]
        assert "WHERE" not in _action_index(ledger)

        upgrade(ledger.engine, "0007")
        after = _columns(ledger)
        assert sorted(after) == sorted(before)
        assert after[:4] == ["event_time", "created_at", "score", "amount"]
        assert "WHERE ((action)::text <> 'allow'::text)" in _action_index(ledger)
        assert _where(ledger, "r1") == [partition_name(date(2024, 3, 2))]
        assert _where(ledger, "r3") == [DEFAULT_PARTITION]
        assert _count(ledger, "decisions") == 4
        assert _count(ledger, "decision_ids") == 4
        assert [ledger.get_decision(r.transaction_id) for r in records] == records
        # The trigger is back: an id recorded on another day is still the first decision.
        assert ledger.record_decision(decision("r0", T0 + 3 * DAY, score=0.5)) == records[0]
        with ledger.engine.connect() as conn:
            left = conn.execute(
                sa.text("SELECT relname FROM pg_class WHERE relname LIKE '%reordering%'")
            ).all()
        assert left == []

        _downgrade(ledger, "0006")
        assert _columns(ledger) == before
        assert "WHERE" not in _action_index(ledger)
        assert [ledger.get_decision(r.transaction_id) for r in records] == records
        assert _count(ledger, "decisions") == 4
    finally:
        ledger.close()
