"""Every reader of a decision's features, on every ledger back end, gives back the names and values
recorded: packed vectors (migration 0003 on) and the JSON of decisions recorded before it alike."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from frisk.store import DecisionRecord, SqlLedger, default_url, open_ledger, upgrade
from frisk.store.feature_catalogues import recent_features

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# What the default catalogue produces: counts, sums in hundredths, ratios, seconds, categoricals,
# missing values; plus what JSON also held (-0.0, ints, booleans).
FEATURES: dict[str, Any] = {
    "txn_count_by_payer_24h": 2.0,
    "amount_sum_by_payer_30d": 1660.47,
    "amount_mean_by_payer_7d": 114.83333333333334,
    "amount_zscore_by_payer_last50": -0.3170807407530133,
    "seconds_since_last_by_payer": 11638.142804,
    "fraud_rate_by_payer_30d": None,
    "hour_of_day": 19.0,
    "channel": "wallet",
    "merchant_category": None,
    "payer_country": "FR",
    "amount": 95.0,
    "tiny": -0.0,
    "big": 1e300,
    "an_int": 7,
    "a_flag": True,
}
OTHER: dict[str, Any] = {"amount": 12.5, "channel": "card", "missing": None}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return default_url(tmp_path)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def ledger(url: str) -> Iterator[SqlLedger]:
    store = open_ledger(url)
    yield store
    store.close()


def decision(txn_id: str, features: dict[str, Any], minute: int = 0) -> DecisionRecord:
    return DecisionRecord(
        transaction_id=txn_id,
        body_hash="b" * 64,
        event_time=T0 + timedelta(minutes=minute),
        transaction={"transaction_id": txn_id, "amount": 95.0, "payer_id": "p1"},
        features=features,
        score=0.25,
        risk_score=25,
        tier="low",
        action="allow",
        reasons=[],
        model_version="m-1",
        timings={"total": 0.5},
        created_at=T0 + timedelta(minutes=minute, seconds=1),
    )


def exact(features: dict[str, Any]) -> list[tuple[str, type, Any]]:
    """Names in order, each value's type and value (and the sign of a zero)."""
    return [
        (k, type(v), (v, math.copysign(1.0, v)) if isinstance(v, float) else v)
        for k, v in features.items()
    ]


def as_json(features: dict[str, Any]) -> dict[str, Any]:
    return dict(orjson.loads(orjson.dumps(features)))


def readers(ledger: SqlLedger, txn_id: str) -> dict[str, dict[str, Any]]:
    """The features of ``txn_id`` as each reader of the ledger gives them."""
    got = ledger.get_decision(txn_id)
    assert got is not None
    recent = {d.transaction_id: d for d in ledger.recent_decisions(100)}
    replayed = {d.transaction_id: d for d in ledger.decisions_since(T0 - timedelta(days=1))}
    backtest = {r["transaction_id"]: r for r in ledger.decisions_with_labels()}
    drift = {
        r.event_time: r for r in recent_features(ledger.engine, "m-1", last=100)
    }  # by time: each decision here has its own minute
    return {
        "get_decision": dict(got.features),
        "recent_decisions": dict(recent[txn_id].features),
        "decisions_since": dict(replayed[txn_id].features),
        "backtest": backtest[txn_id]["features"],
        "drift": drift[got.event_time].features,
    }


def test_every_reader_gives_back_the_recorded_features(ledger: SqlLedger) -> None:
    ledger.record_decisions([decision("a", FEATURES, 0), decision("b", OTHER, 1)])
    ledger.record_decision(decision("c", dict(reversed(FEATURES.items())), 2))
    for txn_id, features in (
        ("a", FEATURES),
        ("b", OTHER),
        ("c", dict(reversed(FEATURES.items()))),
    ):
        for reader, got in readers(ledger, txn_id).items():
            assert exact(got) == exact(as_json(features)), (txn_id, reader)


def test_names_are_held_once_per_catalogue(ledger: SqlLedger) -> None:
    ledger.record_decisions([decision(f"t{i}", FEATURES, i) for i in range(5)])
    ledger.record_decision(decision("other", OTHER, 9))
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT names FROM feature_catalogues ORDER BY id")).all()
        stored_json = conn.execute(
            sa.text("SELECT COUNT(*) FROM decisions WHERE features IS NOT NULL")
        ).scalar_one()
    names = [r[0] if isinstance(r[0], list) else orjson.loads(r[0]) for r in rows]
    assert names == [list(FEATURES), list(OTHER)]
    assert stored_json == 0


def test_a_second_process_finds_the_same_catalogue(url: str) -> None:
    first, second = open_ledger(url), open_ledger(url, migrate=False)
    try:
        first.record_decision(decision("one", FEATURES, 0))
        second.record_decision(decision("two", FEATURES, 1))
        got = first.get_decision("two")
        assert got is not None
        assert exact(dict(got.features)) == exact(as_json(FEATURES))
        with first.engine.connect() as conn:
            count = conn.execute(sa.text("SELECT COUNT(*) FROM feature_catalogues")).scalar_one()
        assert count == 1
    finally:
        first.close()
        second.close()


def test_decisions_recorded_before_packed_vectors_read_as_before(url: str) -> None:
    # A ledger at revision 0002 with a decision written as that version of Frisk wrote it.
    old = open_ledger(url, migrate=False)
    upgrade(old.engine, "0002")
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    legacy = sa.table(
        "decisions",
        *(sa.column(c) for c in ("transaction_id", "body_hash", "score", "risk_score", "tier")),
        *(sa.column(c) for c in ("action", "model_version", "degraded", "payer_id", "payee_id")),
        sa.column("event_time", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
        *(sa.column(c, json_type) for c in ("transaction", "features", "reasons", "timings")),
    )
    before = decision("legacy", FEATURES, 0)
    sqlite = old.engine.dialect.name == "sqlite"
    with old.engine.begin() as conn:
        conn.execute(
            legacy.insert().values(
                transaction_id="legacy",
                body_hash=before.body_hash,
                event_time=before.event_time.replace(tzinfo=None) if sqlite else before.event_time,
                created_at=before.created_at.replace(tzinfo=None) if sqlite else before.created_at,
                transaction=before.transaction,
                features=as_json(FEATURES),
                score=before.score,
                risk_score=before.risk_score,
                tier=before.tier,
                action=before.action,
                reasons=[],
                model_version=before.model_version,
                timings=dict(before.timings),
                degraded=False,
                payer_id="p1",
                payee_id=None,
            )
        )
        # As that version read it back (PostgreSQL's jsonb orders keys its own way).
        (stored,) = conn.execute(sa.select(legacy.c.features)).one()
    old.close()

    ledger = open_ledger(url)  # migrates to head
    try:
        ledger.record_decision(decision("packed", FEATURES, 1))
        for reader, got in readers(ledger, "legacy").items():
            assert exact(got) == exact(stored), reader
        for reader, got in readers(ledger, "packed").items():
            assert exact(got) == exact(as_json(FEATURES)), reader
        assert ledger.get_decision("legacy") == replace(before, features=stored)
    finally:
        ledger.close()


def test_a_downgrade_gives_packed_decisions_their_json_back(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    # jsonb writes 1e300 as an int: leave it out, the rest compares equal.
    features = {k: v for k, v in FEATURES.items() if k != "big"}
    ledger = open_ledger(url)
    ledger.record_decisions([decision("a", features, 0), decision("b", OTHER, 1)])
    ledger.close()
    engine = sa.create_engine(sa.make_url(url))
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", "frisk.store:migrations")
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        table = sa.table("decisions", sa.column("transaction_id"), sa.column("features", sa.JSON()))
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.select(table.c.transaction_id, table.c.features)).all())
    finally:
        engine.dispose()
    assert {k: (v if isinstance(v, dict) else orjson.loads(v)) for k, v in rows.items()} == {
        "a": as_json(features),
        "b": as_json(OTHER),
    }
