"""Every reader of a decision's payload (transaction, reasons, timings, policy, body hash), on every
ledger back end, gives back what was recorded: packed records (migration 0004 on) and the JSON
columns of decisions recorded before it alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from frisk.store import DecisionRecord, LabelWrite, SqlLedger, default_url, open_ledger, upgrade
from frisk.store.archive import decision_dicts, read_decisions
from frisk.store.decision_codec import iso_time
from frisk.store.records import ReviewFilter, ReviewStatus

T0 = datetime(2024, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
FEATURES = {"amount": 95.5, "channel": "wallet"}
POLICY = {
    "decided_by": "rule",
    "action": "review",
    "model_action": "allow",
    "matched": [{"name": "big", "action": "review", "mode": "active", "values": {"amount": 95.5}}],
    "tags": ["vip"],
    "lists": [],
    "rules_version": 3,
    "lists_version": 0,
}
REASONS = [
    {"feature": "amount", "value": 95.5, "contribution": 0.7314455184, "sentence": "2.5\u00d7"},
    {"feature": "channel", "value": "wallet", "contribution": -0.1, "sentence": "wallet"},
]


def transaction(txn_id: str, at: datetime) -> dict[str, Any]:
    return {
        "transaction_id": txn_id,
        "timestamp": iso_time(at),
        "amount": 95.5,
        "currency": "EUR",
        "payer_id": "p1",
        "payee_id": "m1",
        "channel": "wallet",
        "extra": {"account_age_days": 461.0, "note": "café ✓", "n": 3, "flag": True, "x": None},
    }


def decision(txn_id: str, minute: int, **changes: Any) -> DecisionRecord:
    at = T0 + timedelta(minutes=minute)
    record = DecisionRecord(
        transaction_id=txn_id,
        body_hash="3d994f764072527d80dce1c8942873a36ce8963c666d2a7e1f161b58bcc40f7f",
        event_time=at,
        transaction=transaction(txn_id, at),
        features=FEATURES,
        score=0.75,
        risk_score=75,
        tier="high",
        action="review",
        reasons=REASONS,
        model_version="m-1",
        timings={"features": 0.176, "model": 0.37, "policy": 0.031, "total": 0.706},
        created_at=at + timedelta(seconds=1),
        policy=POLICY,
        payer_id="p1",
        payee_id="m1",
    )
    return replace(record, **changes)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return default_url(tmp_path)
    return str(request.getfixturevalue("postgres_url"))


def as_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def write_as_0003(url: str, d: DecisionRecord) -> None:
    """``d`` in a ledger at revision 0003, written as that version of Frisk wrote it."""
    old = open_ledger(url, migrate=False)
    upgrade(old.engine, "0003")
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    legacy = sa.table(
        "decisions",
        *(sa.column(c) for c in ("transaction_id", "body_hash", "score", "risk_score", "tier")),
        *(sa.column(c) for c in ("action", "model_version", "degraded", "payer_id", "payee_id")),
        sa.column("event_time", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
        *(sa.column(c, json_type) for c in ("transaction", "features", "reasons", "timings")),
        sa.column("policy", json_type),
    )
    sqlite = old.engine.dialect.name == "sqlite"
    with old.engine.begin() as conn:
        conn.execute(
            legacy.insert().values(
                transaction_id=d.transaction_id,
                body_hash=d.body_hash,
                event_time=d.event_time.replace(tzinfo=None) if sqlite else d.event_time,
                created_at=d.created_at.replace(tzinfo=None) if sqlite else d.created_at,
                transaction=d.transaction,
                features=dict(d.features),
                score=d.score,
                risk_score=d.risk_score,
                tier=d.tier,
                action=d.action,
                reasons=list(d.reasons),
                model_version=d.model_version,
                timings=dict(d.timings),
                degraded=d.degraded,
                policy=d.policy,
                payer_id=d.payer_id,
                payee_id=d.payee_id,
            )
        )
    old.close()


Reader = Callable[[SqlLedger, str], Any]


def _payload(d: DecisionRecord | None) -> Any:
    assert d is not None
    return (d.transaction, d.reasons, d.timings, d.policy, d.body_hash)


def _one(rows: Any, txn_id: str) -> Any:
    found = [r for r in rows if r is not None and _id(r) == txn_id]
    assert len(found) == 1, txn_id
    return found[0]


def _id(row: Any) -> str:
    if isinstance(row, dict):
        return str(row.get("transaction_id"))
    return str(row.transaction_id)


READERS: dict[str, Reader] = {
    "get_decision": lambda ledger, t: _payload(ledger.get_decision(t)),
    "recent_decisions": lambda ledger, t: _payload(_one(ledger.recent_decisions(100), t)),
    "decisions_since": lambda ledger, t: _payload(
        _one(ledger.decisions_since(T0 - timedelta(days=1)), t)
    ),
    "backtest": lambda ledger, t: (lambda r: (r["transaction"], r["policy"], r["label"]))(
        _one(ledger.decisions_with_labels(), t)
    ),
    "retraining": lambda ledger, t: _one(ledger.monitoring.transactions(), t),
    "review queue": lambda ledger, t: (
        lambda item: (item.amount, item.currency, item.payer_id, item.payee_id)
    )(
        _one(
            ledger.reviews.page(
                ReviewFilter(statuses=frozenset(ReviewStatus)), now=T0 + timedelta(days=1)
            ).items,
            t,
        )
    ),
    "review": lambda ledger, t: (lambda item: (item.amount, item.currency))(ledger.reviews.get(t)),
    "party history": lambda ledger, t: (lambda item: (item.amount, item.currency, item.label))(
        _one(ledger.reviews.history(payer_id="p1"), t)
    ),
}


def expected(d: DecisionRecord, reader: str) -> Any:
    txn = as_json(d.transaction)
    if reader in ("get_decision", "recent_decisions", "decisions_since"):
        return (txn, as_json(d.reasons), as_json(d.timings), as_json(d.policy), d.body_hash)
    if reader == "backtest":
        return (txn, as_json(d.policy), "fraud")
    if reader == "retraining":
        return txn
    if reader == "review queue":
        return (95.5, "EUR", "p1", "m1")
    if reader == "review":
        return (95.5, "EUR")
    return (95.5, "EUR", "fraud")  # party history


@pytest.fixture
def both(url: str) -> Iterator[tuple[SqlLedger, DecisionRecord, DecisionRecord]]:
    """A ledger holding one decision written before packed records and its twin written since."""
    legacy = decision("legacy", 0)
    write_as_0003(url, legacy)
    ledger = open_ledger(url)  # migrates to head
    packed = decision("packed", 1)
    ledger.record_decision(packed)
    ledger.set_labels(
        [LabelWrite(t, "fraud", T0 + timedelta(days=1), "cb") for t in ("legacy", "packed")],
        actor="test",
    )
    yield ledger, legacy, packed
    ledger.close()


@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_gives_back_the_recorded_payload(
    both: tuple[SqlLedger, DecisionRecord, DecisionRecord], reader: str
) -> None:
    ledger, legacy, packed = both
    assert READERS[reader](ledger, "packed") == expected(packed, reader)
    assert READERS[reader](ledger, "legacy") == expected(legacy, reader)


def test_a_packed_decision_reads_back_whole(
    both: tuple[SqlLedger, DecisionRecord, DecisionRecord],
) -> None:
    ledger, legacy, packed = both
    assert ledger.get_decision("packed") == replace(
        packed,
        transaction=as_json(packed.transaction),
        reasons=as_json(packed.reasons),
        features=as_json(packed.features),
    )
    got = ledger.get_decision("legacy")
    assert got is not None
    assert got.transaction == as_json(legacy.transaction)


def test_monitoring_sums_the_amounts_of_both(
    both: tuple[SqlLedger, DecisionRecord, DecisionRecord],
) -> None:
    ledger, _, _ = both
    counts = ledger.monitoring.daily_counts(7)
    assert counts is not None
    (day,) = counts.served
    assert (day.decisions, day.fraud, day.fraud_amount, day.amount_caught) == (2, 2, 191.0, 191.0)


def test_the_archive_holds_the_payload_of_both(
    both: tuple[SqlLedger, DecisionRecord, DecisionRecord], tmp_path: Path
) -> None:
    ledger, legacy, packed = both
    ledger.archive(T0 + timedelta(days=1), tmp_path / "archive")
    assert ledger.get_decision("packed") is None
    rows = {r["transaction_id"]: r for r in decision_dicts(read_decisions(tmp_path / "archive"))}
    for d in (legacy, packed):
        row = rows[d.transaction_id]
        got = (row["transaction"], row["reasons"], row["timings"], row["policy"], row["body_hash"])
        assert got == expected(d, "get_decision")


@pytest.mark.parametrize(
    "changes",
    [
        # The id not first, a time with an offset, a body hash not of 64 hex digits, no policy.
        {"transaction": {"amount": 1.0, "transaction_id": "odd", "timestamp": "2024-03-01"}},
        {"transaction": {"transaction_id": "odd", "timestamp": "2024-03-01T13:00:00+01:00"}},
        {"transaction": {"transaction_id": "someone else", "amount": 2}},
        {"body_hash": "h"},
        {"body_hash": "ABCDEF" * 10 + "ABCD"},
        {"policy": None, "reasons": []},
    ],
)
def test_records_the_codec_cannot_shorten_read_back_whole(
    url: str, changes: dict[str, Any]
) -> None:
    ledger = open_ledger(url)
    try:
        d = decision("odd", 0, **changes)
        ledger.record_decision(d)
        assert _payload(ledger.get_decision("odd")) == expected(d, "get_decision")
        assert ledger.monitoring.transactions().__next__() == as_json(d.transaction)
    finally:
        ledger.close()


def test_a_downgrade_gives_packed_decisions_their_json_columns_back(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    ledger = open_ledger(url)
    d = decision("a", 0)
    ledger.record_decision(d)
    ledger.close()
    engine = sa.create_engine(sa.make_url(url))
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", "frisk.store:migrations")
            config.attributes["connection"] = conn
            command.downgrade(config, "0003")
        table = sa.table(
            "decisions",
            sa.column("body_hash"),
            *(sa.column(c, json_type) for c in ("transaction", "reasons", "timings", "policy")),
        )
        with engine.connect() as conn:
            row = conn.execute(sa.select(table)).one()
    finally:
        engine.dispose()
    assert (row.transaction, row.reasons, row.timings, row.policy, row.body_hash) == expected(
        d, "get_decision"
    )


@pytest.mark.parametrize("amount", [float("nan"), float("inf"), None])
def test_an_amount_that_is_no_finite_number_sums_as_the_json_did(url: str, amount: Any) -> None:
    ledger = open_ledger(url)
    try:
        txn = {**transaction("x", T0), "amount": amount}
        ledger.record_decision(decision("x", 0, transaction=txn))
        ledger.set_labels([LabelWrite("x", "fraud", T0, "cb")], actor="test")
        counts = ledger.monitoring.daily_counts(1)
        assert counts is not None
        assert (counts.served[0].fraud, counts.served[0].fraud_amount) == (1, 0.0)
    finally:
        ledger.close()
