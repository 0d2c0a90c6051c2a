"""The service's partition job: nothing on SQLite, and a failing run counted and survived."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa

from frisk.config import LedgerSettings
from frisk.errors import StoreError
from frisk.monitoring.partitions import PartitionJob
from frisk.store import default_url, open_ledger
from frisk.store.ledger import Ledger


def test_sqlite_is_left_as_it_is(tmp_path: Path) -> None:
    ledger = open_ledger(default_url(tmp_path))
    try:
        with ledger.engine.connect() as conn:
            before = sorted(sa.inspect(conn).get_table_names())
        later = datetime.now(UTC).date() + timedelta(days=40)
        job = PartitionJob(ledger, LedgerSettings(partition_check_seconds=60), today=lambda: later)
        assert job.interval == 60
        assert ledger.ensure_partitions(later) == []
        assert not job.check()
        job.start()
        job.close()
        with ledger.engine.connect() as conn:
            assert sorted(sa.inspect(conn).get_table_names()) == before
        assert job.failures == 0
    finally:
        ledger.close()


class _Failing:
    calls = 0

    def ensure_partitions(self, today: date | None = None) -> list[date]:
        self.calls += 1
        raise StoreError("the database is away")


def test_a_failing_run_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    failing = _Failing()
    job = PartitionJob(cast(Ledger, failing), LedgerSettings(partition_check_seconds=3600))
    job.start()  # the first check fails in the thread, which logs it and waits for the next
    job.close()
    assert failing.calls == 1
    assert job.failures == 1
    assert "creating the ledger's partitions ahead failed" in caplog.text


def test_zero_leaves_it_to_restarts_and_archive_runs() -> None:
    failing = _Failing()
    job = PartitionJob(cast(Ledger, failing), LedgerSettings(partition_check_seconds=0))
    job.start()
    job.close()
    assert failing.calls == 0
