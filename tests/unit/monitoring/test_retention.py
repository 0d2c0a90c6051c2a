"""The service's retention job archives what is older than ``ledger.retention_days``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from frisk.config import LedgerSettings
from frisk.monitoring.retention import RetentionJob
from frisk.store import DecisionRecord, default_url, open_ledger
from frisk.store.archive import read_decisions

NOW = datetime.now(UTC)


def _decision(txn_id: str, age: timedelta) -> DecisionRecord:
    return DecisionRecord(
        transaction_id=txn_id,
        body_hash="c" * 64,
        event_time=NOW - age,
        transaction={"transaction_id": txn_id, "amount": 1.0},
        features={"amount": 1.0},
        score=0.1,
        risk_score=10,
        tier="low",
        action="allow",
        reasons=[],
        model_version="m",
        timings={"total": 0.1},
        created_at=NOW - age,
    )


def test_a_run_archives_past_the_retention_and_keeps_the_rest(tmp_path: Path) -> None:
    ledger = open_ledger(default_url(tmp_path))
    try:
        old, recent = _decision("old", timedelta(days=40)), _decision("new", timedelta(days=2))
        ledger.record_decisions([old, recent])
        settings = LedgerSettings(retention_days=30, archive_every_hours=6)
        job = RetentionJob(ledger, settings, tmp_path / "archive")
        assert job.interval == 6 * 3600
        assert job.check()
        assert ledger.get_decision("old") is None
        assert ledger.get_decision("new") == recent
        archived = read_decisions(tmp_path / "archive")
        assert archived.get_column("transaction_id").to_list() == ["old"]
        assert not job.check()  # nothing older left
    finally:
        ledger.close()


def test_without_a_retention_the_job_never_runs(tmp_path: Path) -> None:
    ledger = open_ledger(default_url(tmp_path))
    try:
        ledger.record_decision(_decision("old", timedelta(days=400)))
        job = RetentionJob(ledger, LedgerSettings(), tmp_path / "archive")
        assert job.interval == 0  # start() starts no thread
        assert not job.check()
        assert ledger.get_decision("old") is not None
    finally:
        ledger.close()
