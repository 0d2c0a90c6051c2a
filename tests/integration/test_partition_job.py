"""The service's partition job keeps PostgreSQL's day partitions of ``decisions`` ahead, however
long the service runs without a restart or a retention run (``frisk.monitoring.partitions``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from frisk.config import LedgerSettings
from frisk.monitoring.partitions import PartitionJob
from frisk.store import DecisionRecord, open_ledger
from frisk.store.partitions import AHEAD_DAYS, DEFAULT_PARTITION, partition_days, partition_name

pytestmark = pytest.mark.integration


def _decision(txn_id: str, at: datetime) -> DecisionRecord:
    return DecisionRecord(
        transaction_id=txn_id,
        body_hash="d" * 64,
        event_time=at,
        transaction={"transaction_id": txn_id, "amount": 1.0},
        features={"amount": 1.0},
        score=0.1,
        risk_score=10,
        tier="low",
        action="allow",
        reasons=[],
        model_version="m",
        timings={"total": 0.1},
        created_at=at,
    )


def test_the_running_job_creates_the_partitions_of_days_past_the_first_ahead(
    postgres_url: str,
) -> None:
    ledger = open_ledger(postgres_url)  # the start's partitions: today and 14 days ahead
    try:
        today = datetime.now(UTC).date()
        later = today + timedelta(days=AHEAD_DAYS + 10)  # the service, 24 days on
        with ledger.engine.connect() as conn:
            assert later not in partition_days(conn)
        job = PartitionJob(ledger, LedgerSettings(), today=lambda: later)
        assert job.interval == 3600
        job.start()  # its first check runs as the thread starts
        job.close()  # and ends before the thread does
        with ledger.engine.connect() as conn:
            days = set(partition_days(conn))
        assert {later + timedelta(days=n) for n in range(AHEAD_DAYS + 1)} <= days
        assert job.failures == 0

        at = datetime(later.year, later.month, later.day, 12, tzinfo=UTC)
        ledger.record_decisions([_decision("later", at)])
        with ledger.engine.connect() as conn:
            where = (
                conn.execute(
                    sa.text(
                        "SELECT tableoid::regclass::text FROM decisions "
                        "WHERE transaction_id = 'later'"
                    )
                )
                .scalars()
                .all()
            )
        assert where == [partition_name(later)]
        assert where != [DEFAULT_PARTITION]
        assert not job.check()  # all there: nothing more to create
    finally:
        ledger.close()
