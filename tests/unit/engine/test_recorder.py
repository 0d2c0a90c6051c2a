"""Group commit: every waiter gets its own outcome, conflicts hand back the recorded row."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from frisk.engine.recorder import DecisionRecorder
from frisk.errors import RecordRefusedError, StoreError
from frisk.store import DecisionRecord, SqlLedger, default_url, open_ledger
from frisk.store.breaker import StoreUnavailableError


def record(txn_id: str, body_hash: str = "h") -> DecisionRecord:
    now = datetime.now(UTC)
    return DecisionRecord(
        transaction_id=txn_id,
        body_hash=body_hash,
        event_time=now,
        transaction={"transaction_id": txn_id},
        features={"amount": 1.0, "missing": None},
        score=0.1,
        risk_score=4,
        tier="low",
        action="allow",
        reasons=[],
        model_version="v",
        timings={"total": 1.0},
        created_at=now,
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    store = open_ledger(default_url(tmp_path))
    yield store
    store.close()


def test_concurrent_records_share_commits(ledger: SqlLedger) -> None:
    commits: list[tuple[int, float]] = []
    recorder = DecisionRecorder(ledger, on_commit=lambda n, s: commits.append((n, s)))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(recorder.record_decision, [record(f"r-{i}") for i in range(200)]))
    recorder.close()
    assert [r.transaction_id for r in results] == [f"r-{i}" for i in range(200)]
    assert all(ledger.get_decision(f"r-{i}") is not None for i in range(200))
    assert recorder.recorded == 200
    assert recorder.commits <= 200
    assert len(commits) == recorder.commits
    assert sum(n for n, _ in commits) == 200
    assert all(s > 0 for _, s in commits)


def test_a_failing_commit_observer_does_not_stop_the_writer(ledger: SqlLedger) -> None:
    def broken(_decisions: int, _seconds: float) -> None:
        raise RuntimeError("metrics are down")

    recorder = DecisionRecorder(ledger, on_commit=broken)
    assert recorder.record_decision(record("o-1")).transaction_id == "o-1"
    assert recorder.record_decision(record("o-2")).transaction_id == "o-2"
    recorder.close()
    assert recorder.recorded == 2


def test_a_recorded_id_returns_the_recorded_row(ledger: SqlLedger) -> None:
    recorder = DecisionRecorder(ledger)
    mine = record("c-1")
    assert recorder.record_decision(mine) is mine
    other = recorder.record_decision(record("c-1", body_hash="other"))
    assert other.body_hash == "h"

    async def from_the_loop() -> DecisionRecord:
        return await recorder.record_decision_async(record("c-2"))

    assert asyncio.run(from_the_loop()).transaction_id == "c-2"
    recorder.close()


class _BrokenLedger:
    def record_decisions(self, records: list[DecisionRecord]) -> list[DecisionRecord]:
        raise StoreError("disk full")


def test_a_failed_commit_fails_its_waiters() -> None:
    recorder = DecisionRecorder(_BrokenLedger())  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="disk full"):
        recorder.record_decision(record("f-1"))
    recorder.close()
    with pytest.raises(StoreError, match="stopped"):
        recorder.record_decision(record("f-2"))


class Gated:
    """The ledger, with its first commit held until ``release``: requests queue meanwhile and
    share the next commit."""

    def __init__(self, ledger: SqlLedger) -> None:
        self.ledger = ledger
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []

    def record_decisions(self, records: list[DecisionRecord]) -> list[DecisionRecord]:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(len(records))
        return self.ledger.record_decisions(records)


def test_a_record_the_ledger_refuses_fails_only_its_own_request(ledger: SqlLedger) -> None:
    gated = Gated(ledger)
    recorder = DecisionRecorder(gated)  # type: ignore[arg-type]
    bad = record("bad")
    bad.features["amount"] = object()  # type: ignore[index]  # nothing can store it
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(recorder.record_decision, record("first"))
        assert gated.entered.wait(10)
        others = [pool.submit(recorder.record_decision, record(f"g-{i}")) for i in range(5)]
        refused = pool.submit(recorder.record_decision, bad)
        time.sleep(0.2)  # let them queue behind the held commit
        gated.gate.set()
        assert first.result(10).transaction_id == "first"
        assert [f.result(10).transaction_id for f in others] == [f"g-{i}" for i in range(5)]
        with pytest.raises(RecordRefusedError):
            refused.result(10)
    recorder.close()
    assert max(gated.batches) > 1  # they did share a commit, which was retried without it
    assert all(ledger.get_decision(f"g-{i}") is not None for i in range(5))
    assert ledger.get_decision("bad") is None


def test_a_waiter_gives_up_on_a_hung_commit_with_a_503_error(ledger: SqlLedger) -> None:
    gated = Gated(ledger)
    recorder = DecisionRecorder(gated, wait_seconds=0.3)  # type: ignore[arg-type]
    began = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="did not confirm"):
        recorder.record_decision(record("slow"))

    async def from_the_loop() -> DecisionRecord:
        return await recorder.record_decision_async(record("slow-2"))

    with pytest.raises(StoreUnavailableError):
        asyncio.run(from_the_loop())
    assert time.monotonic() - began < 5
    gated.gate.set()  # the store comes back: what was queued is recorded, once
    recorder.close()
    assert ledger.get_decision("slow") is not None
    assert ledger.get_decision("slow-2") is not None
