"""SQLite's review-queue index holds only the alerts (migration 0008); the reads still use it."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command

from frisk.store import DecisionRecord, SqlLedger, default_url, open_ledger
from frisk.store.migrate import _config, upgrade
from frisk.store.reviews import ReviewFilter, ReviewStore

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BASE = DecisionRecord(
    transaction_id="t",
    body_hash="a" * 64,
    event_time=T0,
    transaction={"transaction_id": "t", "amount": 12.5, "currency": "EUR", "payer_id": "p"},
    features={"amount": 12.5, "missing": None},
    score=0.1,
    risk_score=10,
    tier="low",
    action="allow",
    reasons=[],
    model_version="m-1",
    timings={"total": 0.6},
    created_at=T0,
    degraded=False,
)


def _decisions(count: int) -> list[DecisionRecord]:
    out = []
    for i in range(count):
        action = "block" if i % 10 == 9 else "review" if i % 10 == 8 else "allow"
        at = T0 + timedelta(seconds=i)
        out.append(
            replace(
                BASE,
                transaction_id=f"t{i:04d}",
                transaction={**BASE.transaction, "transaction_id": f"t{i:04d}"},
                event_time=at,
                created_at=at,
                score=(i * 37 % 100) / 100,
                action=action,
            )
        )
    return out


def _index_sql(ledger: SqlLedger) -> str:
    with ledger.engine.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT sql FROM sqlite_schema WHERE name = 'ix_decisions_action_score'")
            ).scalar_one()
        )


def _downgrade(ledger: SqlLedger, revision: str) -> None:
    with ledger.engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_the_action_index_holds_only_alerts_and_the_migration_goes_back(tmp_path: Path) -> None:
    ledger = open_ledger(default_url(tmp_path))
    try:
        records = _decisions(40)
        ledger.record_decisions(records)
        assert "WHERE action <> 'allow'" in _index_sql(ledger)
        queue = ReviewStore(ledger.engine).page(ReviewFilter(), now=T0 + timedelta(days=1))
        newest_blocks = ledger.recent_decisions(3, action="block")

        _downgrade(ledger, "0007")
        assert "WHERE" not in _index_sql(ledger)
        upgrade(ledger.engine)
        assert "WHERE action <> 'allow'" in _index_sql(ledger)
        assert ReviewStore(ledger.engine).page(ReviewFilter(), now=T0 + timedelta(days=1)) == queue
        assert ledger.recent_decisions(3, action="block") == newest_blocks
        assert [d.transaction_id for d in newest_blocks] == ["t0039", "t0029", "t0019"]
        assert [item.transaction_id for item in queue.items] == ["t0008", "t0018", "t0028", "t0038"]
    finally:
        ledger.close()


def _plans(ledger: SqlLedger, call: Any) -> list[str]:
    """The SQLite query plan of each statement ``call()`` sends that reads ``decisions``."""
    sent: list[tuple[str, Any]] = []

    def seen(_conn: object, _cursor: object, statement: str, params: Any, *_: object) -> None:
        sent.append((statement, params))

    sa.event.listen(ledger.engine, "before_cursor_execute", seen)
    try:
        call()
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", seen)
    database = ledger.engine.url.database
    assert database is not None
    with sqlite3.connect(database) as conn:
        return [
            "; ".join(str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + st, params))
            for st, params in sent
            if "decisions" in st
        ]


def test_the_reads_of_alerts_go_through_an_index(tmp_path: Path) -> None:
    ledger = open_ledger(default_url(tmp_path))
    try:
        ledger.record_decisions(_decisions(200))
        now = T0 + timedelta(days=1)
        queue = _plans(ledger, lambda: ReviewStore(ledger.engine).page(ReviewFilter(), now=now))
        assert len(queue) == 2  # the page and its count
        for plan in queue:
            assert "SEARCH decisions USING INDEX ix_decisions_action_score" in plan, plan
        for action in ("review", "block"):
            (plan,) = _plans(ledger, lambda a=action: ledger.recent_decisions(5, action=a))
            assert "USING INDEX ix_decisions_action_score" in plan, plan
        # ``allow`` and the counts read by time: the alerts' index cannot serve them.
        (plan,) = _plans(ledger, lambda: ledger.recent_decisions(5, action="allow"))
        assert "USING INDEX ix_decisions_created_at" in plan, plan
        (plan,) = _plans(ledger, lambda: ledger.decision_counts(now - timedelta(hours=1)))
        assert "USING INDEX ix_decisions_created_at" in plan, plan
    finally:
        ledger.close()
