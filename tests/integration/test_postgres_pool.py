"""The PostgreSQL ledger's connection pool: connections kept under concurrency, pinged only
after being idle (``frisk.store.postgres``)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from frisk.errors import RecordRefusedError, StoreError
from frisk.store import DecisionRecord, SqlLedger, open_ledger
from frisk.store import postgres as pg
from frisk.store.postgres import StoreTimeouts

pytestmark = pytest.mark.integration


def _ledger(url: str) -> SqlLedger:
    ledger = open_ledger(url, timeouts=StoreTimeouts())
    assert isinstance(ledger, SqlLedger)
    return ledger


def decision(txn_id: str, tier: str = "low") -> DecisionRecord:
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    return DecisionRecord(
        transaction_id=txn_id,
        body_hash="a" * 64,
        event_time=at,
        transaction={"transaction_id": txn_id, "amount": 12.5, "currency": "EUR"},
        features={"amount": 12.5},
        score=0.125,
        risk_score=13,
        tier=tier,
        action="allow",
        reasons=[],
        model_version="m-1",
        timings={"total": 0.6},
        created_at=at,
        degraded=False,
    )


def _backends(ledger: SqlLedger) -> set[int]:
    """The server processes behind the pool's connections, checked out at once."""
    pool = ledger.engine.pool
    held = [pool.connect() for _ in range(pool.checkedin())]
    try:
        pids = set()
        for conn in held:
            cursor = conn.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            pids.add(cursor.fetchone()[0])
            cursor.close()
        return pids
    finally:
        for conn in held:
            conn.close()


def test_connections_are_kept_under_more_concurrent_lookups_than_before(postgres_url: str) -> None:
    # 16 threads at once: the old pool (10 + 10 overflow) closed the overflow connections as
    # they came back, and opened new ones for the next burst.
    ledger = _ledger(postgres_url)
    try:
        with ThreadPoolExecutor(16) as pool:
            assert not any(pool.map(ledger.has_decision, [f"t-{i}" for i in range(400)]))
        first = _backends(ledger)
        assert len(first) > 10
        with ThreadPoolExecutor(16) as pool:
            assert not any(pool.map(ledger.has_decision, [f"u-{i}" for i in range(400)]))
        assert _backends(ledger) == first  # the same server processes: none closed, none opened
    finally:
        ledger.close()


def test_an_idle_connection_the_server_closed_is_replaced_not_handed_out(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = _ledger(postgres_url)
    admin = sa.create_engine(sa.make_url(postgres_url), isolation_level="AUTOCOMMIT")
    try:
        assert not ledger.has_decision("before")
        (pid,) = _backends(ledger)
        with admin.connect() as conn:  # what a server restart or an idle timeout does
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        monkeypatch.setattr(pg, "PING_AFTER_SECONDS", 0.0)  # "idle long enough" from now
        # Pinged, found closed, replaced: no error (pool_pre_ping's failed ping opened the
        # breaker, so this was a StoreUnavailableError).
        assert not ledger.has_decision("after")
        assert _backends(ledger) != {pid}
    finally:
        admin.dispose()
        ledger.close()


def test_the_decision_path_hands_its_connections_back_out_of_autocommit(
    postgres_url: str,
) -> None:
    # The look-up and a group commit's INSERT run on a pooled connection in autocommit
    # (``postgres.driver_autocommit``); whatever takes the connection next gets transactions.
    ledger = open_ledger(postgres_url, timeouts=StoreTimeouts(cool_down=0.05))
    admin = sa.create_engine(sa.make_url(postgres_url), isolation_level="AUTOCOMMIT")
    try:
        assert not ledger.has_decision("a")
        with ledger.engine.connect() as conn:
            assert conn.connection.driver_connection.autocommit is False
            conn.execute(sa.text("CREATE TABLE kept_or_not (x int)"))
            conn.rollback()
        assert not ledger.has_decision("b")
        with ledger.engine.connect() as conn:  # rolled back with its transaction
            assert conn.execute(sa.text("SELECT to_regclass('kept_or_not')")).scalar() is None
        # A connection that broke under a statement is dropped, not handed out again.
        (pid,) = _backends(ledger)
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(StoreError):
            ledger.has_decision("c")
        time.sleep(0.1)  # the breaker's cool-down: a lost connection opened it
        assert not ledger.has_decision("d")
        assert _backends(ledger) != {pid}
    finally:
        admin.dispose()
        ledger.close()


def test_a_statement_the_server_refuses_on_the_decision_path_is_the_ledgers_error(
    postgres_url: str,
) -> None:
    # A driver error on the driver connection comes out as SQLAlchemy's class for it, which the
    # ledger translates as any other; the connection, idle after it, goes back to the pool.
    ledger = _ledger(postgres_url)
    try:
        assert not ledger.has_decision("warm")
        (pid,) = _backends(ledger)
        with pytest.raises(RecordRefusedError, match="StringDataRightTruncation"):
            ledger.record_decisions([decision("ok"), decision("long", tier="x" * 40)])
        assert not ledger.has_decision("ok")  # the statement was its transaction: none of it
        assert _backends(ledger) == {pid}
        ledger.record_decisions([decision("ok")])
        assert ledger.has_decision("ok")
    finally:
        ledger.close()
