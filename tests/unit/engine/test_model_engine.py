"""ModelEngine without HTTP: decisions, retries after a failed write, reload, warm-up."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from frisk.data.simulator import SimulationConfig, simulate
from frisk.engine import Action, ModelEngine, ModelSource
from frisk.errors import ArtifactError, ConflictError, InvalidEventError
from frisk.features import MemoryStore
from frisk.models import save_model
from frisk.models.pipeline import train_events
from frisk.schema import Transaction
from frisk.service.metrics import ServiceMetrics
from frisk.service.scoring import Scorer
from frisk.service.stats import LiveStats
from frisk.store import DecisionRecord, SqlLedger, default_url, open_ledger

VELOCITY = "txn_count_by_payer_24h"
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engine-models")
    table = simulate(SimulationConfig(days=10, payers=300, seed=1, fraud_rate=0.03))
    save_model(train_events(table), root / "a")
    # Without the entry_mode column the catalogue (its extras) differs.
    save_model(train_events(table.drop("entry_mode")), root / "other-catalogue")
    return {"a": root / "a", "other": root / "other-catalogue"}


def txn(i: int, *, payer: str = "p-1", **fields: Any) -> Transaction:
    body: dict[str, Any] = {
        "transaction_id": f"t-{i}",
        "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
        "amount": 50.0,
        "currency": "EUR",
        "payer_id": payer,
        "payee_id": f"m-{i}",
        "device_id": "d-1",
        "extra": {"account_age_days": 100, "entry_mode": "chip"},
    }
    body.update(fields)
    return Transaction.model_validate(body)


def engine_for(model: Path, **kwargs: Any) -> ModelEngine:
    return ModelEngine(ModelSource(directory=model), **kwargs).start()


def test_decide(trained: dict[str, Path]) -> None:
    engine = engine_for(trained["a"])
    first, second = engine.decide(txn(0)), engine.decide(txn(1))
    assert 0.0 <= first.score <= 1.0
    assert 0 <= first.risk_score <= 100
    assert first.model_version == engine.model_version != "none"
    assert set(first.timings) == {"features", "model", "reasons"}
    assert (first.features[VELOCITY], second.features[VELOCITY]) == (0.0, 1.0)
    assert all(v is None or v == v for v in first.features.values())  # NaN became None
    for verdict in (first, second):
        assert bool(verdict.reasons) == (verdict.action is not Action.ALLOW)


def test_a_given_store_is_shared_as_it_is(trained: dict[str, Path], tmp_path: Path) -> None:
    """Two engines over one store see each other's events (as two processes over Redis do);
    neither snapshots a store it did not make."""
    store = MemoryStore()
    one = engine_for(trained["a"], store=store, state_dir=tmp_path)
    assert one.decide(txn(0)).features[VELOCITY] == 0.0
    two = engine_for(trained["a"], store=store, state_dir=tmp_path)
    assert two.decide(txn(1)).features[VELOCITY] == 1.0
    assert one.decide(txn(2)).features[VELOCITY] == 2.0
    one.close()
    assert list(tmp_path.iterdir()) == []


def test_reasons_policy_and_threshold_overrides(trained: dict[str, Path]) -> None:
    review_all = {"medium": 0.0, "review": 0.0, "block": 1.0}
    engine = engine_for(trained["a"], thresholds=review_all, explain="all")
    verdict = engine.decide(txn(0))
    assert (verdict.action, verdict.risk_tier) == (Action.REVIEW, "high")
    assert verdict.reasons
    assert engine.info().thresholds == review_all
    quiet = engine_for(trained["a"], thresholds=review_all, explain="none")
    assert quiet.decide(txn(0)).reasons == ()


def test_a_retry_after_a_failed_write_does_not_count_twice(trained: dict[str, Path]) -> None:
    retried, once = engine_for(trained["a"]), engine_for(trained["a"])
    for engine, times in ((retried, 3), (once, 1)):
        engine.decide(txn(0))
        verdicts = [engine.decide(txn(1)) for _ in range(times)]
        assert all(v is verdicts[0] for v in verdicts)
    # The same id with another body: decided (it sees the first attempt), not learnt again.
    changed = retried.decide(txn(1, amount=999.0))
    assert changed.features[VELOCITY] == 2.0
    assert retried.decide(txn(2)).features == once.decide(txn(2)).features


def test_a_non_numeric_extra_is_refused_before_state_changes(trained: dict[str, Path]) -> None:
    engine = engine_for(trained["a"])
    engine.decide(txn(0))
    with pytest.raises(InvalidEventError, match=r"extra\.account_age_days"):
        engine.decide(txn(1, extra={"account_age_days": "old", "entry_mode": "chip"}))
    assert engine.decide(txn(2)).features[VELOCITY] == 1.0


def test_reload_keeps_the_old_model_when_the_new_one_fails(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(trained["a"], model)
    engine = engine_for(model)
    version = engine.model_version
    (model / "model.txt").write_text("garbage", encoding="utf-8")
    with pytest.raises(ArtifactError):
        engine.reload()
    assert engine.model_version == version
    assert engine.decide(txn(0)).model_version == version


def test_reload_refuses_another_catalogue(trained: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(trained["a"], model)
    engine = engine_for(model)
    version = engine.model_version
    shutil.rmtree(model)
    shutil.copytree(trained["other"], model)
    with pytest.raises(ConflictError, match="Restart the service"):
        engine.reload()
    assert engine.model_version == version


def _scorer(ledger: SqlLedger, engine: ModelEngine) -> Scorer:
    return Scorer(ledger, engine, ServiceMetrics(), LiveStats(100))


def test_snapshot_then_ledger_rebuild_the_same_state(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    ledger = open_ledger(default_url(tmp_path))
    state = tmp_path / "state"
    first = engine_for(trained["a"], ledger=ledger, state_dir=state, snapshot_seconds=0)
    scorer = _scorer(ledger, first)
    for i in range(3):
        scorer.decide(txn(i))
    first.snapshot()
    for i in range(3, 5):  # decided after the snapshot: only the ledger has them
        scorer.decide(txn(i, payer="p-1" if i % 2 else "p-2"))

    restarted = engine_for(trained["a"], ledger=ledger, state_dir=state, snapshot_seconds=0)
    assert restarted.warmed_events == 2
    shutil.rmtree(state)
    rebuilt = engine_for(trained["a"], ledger=ledger, state_dir=state, snapshot_seconds=0)
    assert rebuilt.warmed_events == 5
    expected = first.decide(txn(9)).features
    assert restarted.decide(txn(9)).features == expected
    assert rebuilt.decide(txn(9)).features == expected
    assert expected[VELOCITY] == 4.0
    ledger.close()


def test_history_is_learnt_at_start_unless_a_snapshot_holds_it(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    import polars as pl

    from frisk.data import write_table

    history = simulate(SimulationConfig(days=2, payers=50, seed=3, fraud_rate=0.03))
    path = tmp_path / "history.parquet"
    write_table(history, path)
    newest = history.sort("timestamp").row(-1, named=True)
    payer, last = newest["payer_id"], newest["timestamp"]
    seen = history.filter(
        (pl.col("payer_id") == payer) & (pl.col("timestamp") > last - timedelta(hours=24))
    ).height
    assert seen >= 1
    after = txn(0, payer=payer, timestamp=(last + timedelta(seconds=1)).isoformat())

    cold = engine_for(trained["a"]).decide(after)
    warm_engine = engine_for(trained["a"], history=path, state_dir=tmp_path / "state")
    warm = warm_engine.decide(after)
    assert warm_engine.history_events == history.height
    assert (cold.features[VELOCITY], warm.features[VELOCITY]) == (0.0, float(seen))
    warm_engine.close()  # a snapshot: it holds the history and the decision above

    restarted = engine_for(trained["a"], history=path, state_dir=tmp_path / "state")
    assert restarted.history_events == 0  # not learnt twice
    later = txn(1, payer=payer, timestamp=(last + timedelta(seconds=2)).isoformat())
    assert restarted.decide(later).features[VELOCITY] == float(seen + 1)


def test_engines_over_one_redis_warm_it_once_and_share_it(
    trained: dict[str, Path], tmp_path: Path, require_service: Any
) -> None:
    """The first engine on an empty Redis learns the ledger into it; a second process finds the
    state there (no warm-up) and both see each other's payments."""
    import uuid

    from frisk.features.stores.redis import RedisStore

    require_service("Redis", "127.0.0.1", 6379)
    prefix = f"frisk-test-engine-{uuid.uuid4().hex[:10]}"
    ledger = open_ledger(default_url(tmp_path))
    recorder = _scorer(ledger, engine_for(trained["a"], ledger=ledger))
    for i in range(3):
        recorder.decide(txn(i))
    stores = [RedisStore.connect("redis://127.0.0.1:6379/0", key_prefix=prefix, timeout=10.0)]
    try:
        first = engine_for(trained["a"], ledger=ledger, store=stores[0])
        assert first.warmed_events == 3
        stores.append(RedisStore.connect("redis://127.0.0.1:6379/0", key_prefix=prefix))
        second = engine_for(trained["a"], ledger=ledger, store=stores[1])
        assert second.warmed_events == 0
        assert first.decide(txn(3)).features[VELOCITY] == 3.0
        assert second.decide(txn(4)).features[VELOCITY] == 4.0
    finally:
        stores[0].clear()
        for store in stores:
            store.close()
        ledger.close()


# -- issue #20, case 1: a far-future event cannot stop the clock again after a restart ----------

SINCE_LAST = "seconds_since_last_by_payer"


def _recorded_before_the_bounds(
    ledger: SqlLedger, txn_id: str, at: str, payer: str, amount: float = 50.0
) -> None:
    """A decision as the ledger held it before the input bounds: any time was accepted."""
    body = txn(0, payer=payer).model_dump(mode="json")
    body.update(transaction_id=txn_id, timestamp=at, amount=amount)
    ledger.record_decision(
        DecisionRecord(
            transaction_id=txn_id,
            body_hash="h",
            event_time=datetime.fromisoformat(at),
            transaction=body,
            features={},
            score=0.1,
            risk_score=10,
            tier="low",
            action="allow",
            reasons=[],
            model_version="old",
            timings={"total": 1.0},
            created_at=datetime.now(UTC),
        )
    )


def test_warm_up_leaves_out_events_from_the_future(
    trained: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = open_ledger(default_url(tmp_path))
    now = datetime.now(UTC).replace(microsecond=0)
    scorer = _scorer(ledger, engine_for(trained["a"], ledger=ledger))
    for hours in (3, 2, 1):
        scorer.decide(txn(hours, timestamp=(now - timedelta(hours=hours)).isoformat()))
    _recorded_before_the_bounds(ledger, "far", "9999-12-31T23:59:59+00:00", "p-far")
    _recorded_before_the_bounds(ledger, "ahead", "2100-01-01T00:00:00+00:00", "p-ahead")
    huge = (now - timedelta(minutes=30)).isoformat()
    _recorded_before_the_bounds(ledger, "huge", huge, "p-huge", amount=1e12)

    restarted = engine_for(trained["a"], ledger=ledger)  # on main: a ValidationError
    assert restarted.warmed_events == 3
    assert "left out 2 recorded decisions dated past the server's clock and 1" in caplog.text
    decided = restarted.decide(txn(9, timestamp=now.isoformat()))
    assert decided.features[SINCE_LAST] == 3600.0  # the clock is the payments', not 2100's
    ledger.close()


def test_a_snapshot_whose_clock_a_future_event_stopped_is_rebuilt_from_the_ledger(
    trained: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = open_ledger(default_url(tmp_path))
    state = tmp_path / "state"
    now = datetime.now(UTC).replace(microsecond=0)
    first = engine_for(trained["a"], ledger=ledger, state_dir=state, snapshot_seconds=0)
    scorer = _scorer(ledger, first)  # no live window: what the service accepted before #20
    for hours in (3, 2, 1):
        scorer.decide(txn(hours, timestamp=(now - timedelta(hours=hours)).isoformat()))
    scorer.decide(txn(7, payer="p-ahead", timestamp="2100-01-01T00:00:00+00:00"))
    first.snapshot()  # its clock is 2100

    restarted = engine_for(trained["a"], ledger=ledger, state_dir=state, snapshot_seconds=0)
    assert "clock (2100-01-01T00:00:00Z) is past the server's clock" in caplog.text
    assert restarted.warmed_events == 3  # the whole ledger, but the future event
    decided = restarted.decide(txn(9, timestamp=now.isoformat()))
    assert decided.features[SINCE_LAST] == 3600.0
    ledger.close()
