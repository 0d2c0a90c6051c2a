"""``Decider``: decide-and-record exactly once, for any caller, without the web service."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frisk.engine.decider import Decided, Decider
from frisk.engine.recorder import DecisionRecorder
from frisk.errors import (
    ConflictError,
    FriskError,
    InvalidEventError,
    NotReadyError,
    RecordRefusedError,
)
from frisk.schema import Transaction
from frisk.store import SqlLedger, default_url, open_ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    opened = open_ledger(default_url(tmp_path))
    yield opened
    opened.close()


def txn(body: dict[str, Any]) -> Transaction:
    return Transaction.model_validate(body)


def test_a_retry_is_answered_from_the_ledger_and_another_body_refused(
    ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    decided, replays = [], []
    decider = Decider(
        ledger,
        amount_engine,
        on_decided=lambda record, ms: decided.append(record.transaction_id),
        on_replay=lambda: replays.append(1),
    )
    first = decider.decide(txn(txn_body("d-1", amount=6000.0)))
    assert (first.replayed, first.record.action) == (False, "review")
    again = decider.decide(txn(txn_body("d-1", amount=6000.0)))
    assert again.replayed
    assert again.record == first.record
    with pytest.raises(ConflictError, match="another body"):
        decider.decide(txn(txn_body("d-1", amount=1.0)))
    assert amount_engine.calls == 1
    assert (decided, len(replays)) == (["d-1"], 1)
    assert ledger.get_decision("d-1") == first.record


def test_async_decisions_share_the_group_commit(
    ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    recorder = DecisionRecorder(ledger)
    decider = Decider(ledger, amount_engine, record_async=recorder.record_decision_async)

    async def decide_all() -> list[Any]:
        bodies = [txn(txn_body(f"a-{i}", amount=10.0 * (i + 1))) for i in range(20)]
        return await asyncio.gather(*(decider.decide_async(t) for t in bodies))

    got = asyncio.run(decide_all())
    recorder.close()
    assert [g.record.transaction_id for g in got] == [f"a-{i}" for i in range(20)]
    assert all(ledger.has_decision(f"a-{i}") for i in range(20))


def test_without_a_ready_engine_nothing_is_decided(
    ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    with pytest.raises(NotReadyError, match="no decision engine"):
        Decider(ledger, None).decide(txn(txn_body("n-1")))
    amount_engine.is_ready = False
    with pytest.raises(NotReadyError, match="not ready"):
        Decider(ledger, amount_engine).decide(txn(txn_body("n-2")))
    assert not ledger.has_decision("n-2")


@pytest.mark.slow
def test_a_consumer_decides_and_records_without_the_web_service(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from datetime import UTC, datetime

        class NoWeb:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in {"fastapi", "starlette", "uvicorn"}:
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoWeb())

        from frisk.engine.decider import Decider
        from frisk.schema import Action, Transaction, Verdict
        from frisk.store import default_url, open_ledger

        class Allow:
            model_version = "m-0"
            def ready(self): return True
            def reload(self): pass
            def decide(self, txn):
                return Verdict(0.1, 10, "low", Action.ALLOW, (), {}, self.model_version)

        from pathlib import Path

        ledger = open_ledger(default_url(Path(sys.argv[1])))
        body = {"transaction_id": "c-1", "timestamp": datetime.now(UTC).isoformat(),
                "amount": 5.0, "currency": "EUR", "payer_id": "p", "payee_id": "q"}
        decided = Decider(ledger, Allow()).decide(Transaction.model_validate(body))
        assert ledger.get_decision("c-1") == decided.record
        ledger.close()
        print("recorded", decided.record.action)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "recorded allow"


# Built in code (a stream consumer, ``model_copy``), a transaction skips pydantic's checks: the
# ledger's admission refuses what no back end can hold before the engine learns it (issue #20).
HOSTILE = [
    ({"payer_id": "payer\x00"}, "payer_id"),
    ({"transaction_id": "t\x00"}, "transaction_id"),
    ({"device_id": "dev\ud800"}, "device_id"),
    ({"extra": {"note": "a\x00b"}}, "extra.note"),
    ({"extra": {"big": 2**70}}, "extra.big"),
    ({"extra": {"x": float("nan")}}, "extra.x"),  # JSON would record it as null
    ({"amount": 1e308}, "amount"),
    ({"amount": float("inf")}, "amount"),
    ({"amount": -5.0}, "amount"),
]


@pytest.mark.parametrize(("change", "field"), HOSTILE)
def test_a_body_no_ledger_can_hold_is_refused_before_the_engine(
    ledger: SqlLedger, amount_engine: Any, txn_body: Any, change: dict[str, Any], field: str
) -> None:
    hostile = txn(txn_body("h-1")).model_copy(update=change)
    decider = Decider(ledger, amount_engine)
    with pytest.raises(InvalidEventError) as refused:
        decider.decide(hostile)
    assert refused.value.field == field
    with pytest.raises(InvalidEventError):
        asyncio.run(decider.decide_async(hostile))
    assert amount_engine.calls == 0
    assert ledger.recent_decisions(10) == []


def test_a_value_json_cannot_hold_is_refused_before_the_engine(
    ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    hostile = txn(txn_body("h-1")).model_copy(update={"extra": {"raw": object()}})
    with pytest.raises(InvalidEventError, match="JSON"):
        Decider(ledger, amount_engine).decide(hostile)
    assert amount_engine.calls == 0


def test_a_batch_refuses_only_the_rows_no_ledger_can_hold(
    ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    rows = [txn(txn_body(f"b-{i}")) for i in range(5)]
    rows[2] = rows[2].model_copy(update={"payee_id": "payee\x00"})
    got = Decider(ledger, amount_engine).decide_many(rows)
    assert isinstance(got[2], InvalidEventError)
    assert got[2].field == "payee_id"
    assert [ledger.has_decision(f"b-{i}") for i in range(5)] == [True, True, False, True, True]
    assert amount_engine.calls == 4


def test_a_chunk_the_ledger_refuses_is_recorded_row_by_row(
    ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    """The ledger refuses one row of a chunk for its content: only that row fails."""

    def record_many(records: list[Any]) -> list[Any]:
        if any(r.transaction_id == "c-3" for r in records):
            raise RecordRefusedError("recording: the ledger cannot hold it")
        return ledger.record_decisions(records)

    decider = Decider(ledger, amount_engine, record_many=record_many)
    got = decider.decide_many([txn(txn_body(f"c-{i}")) for i in range(6)])
    assert isinstance(got[3], RecordRefusedError)
    assert [isinstance(g, Decided) for g in got] == [True, True, True, False, True, True]
    assert [ledger.has_decision(f"c-{i}") for i in range(6)] == [True] * 3 + [False] + [True] * 2


_ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=12)
_ANY_VALUE = st.none() | st.booleans() | st.integers() | st.floats() | _ANY_TEXT


@pytest.fixture(scope="module")
def shared_ledger(tmp_path_factory: pytest.TempPathFactory) -> Any:
    opened = open_ledger(default_url(tmp_path_factory.mktemp("any")))
    yield opened
    opened.close()


def _count(ledger: SqlLedger) -> int:
    return sum(1 for _ in ledger.decisions_since(datetime(1970, 1, 1, tzinfo=UTC)))


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    change=st.fixed_dictionaries(
        {},
        optional={
            "transaction_id": _ANY_TEXT,
            "payer_id": _ANY_TEXT,
            "payee_id": _ANY_TEXT,
            "device_id": _ANY_TEXT,
            "merchant_category": _ANY_TEXT,
            "amount": st.floats(),
            "extra": st.dictionaries(_ANY_TEXT, _ANY_VALUE, max_size=3),
        },
    )
)
def test_whatever_code_builds_is_decided_or_refused_before_the_engine(
    shared_ledger: SqlLedger, txn_body: Any, change: dict[str, Any]
) -> None:
    """Typed values with any content, past validation (``model_copy``): a decision that the
    ledger holds as decided, or a FriskError with nothing learnt and nothing recorded."""
    from tests.conftest import AmountEngine

    change["transaction_id"] = change.get("transaction_id", "") + uuid.uuid4().hex
    engine = AmountEngine()
    built = txn(txn_body("any")).model_copy(update=change)
    before = _count(shared_ledger)
    try:
        decided = Decider(shared_ledger, engine).decide(built)
    except FriskError:
        assert engine.calls == 0
        assert _count(shared_ledger) == before
    else:
        assert shared_ledger.get_decision(built.transaction_id) == decided.record
