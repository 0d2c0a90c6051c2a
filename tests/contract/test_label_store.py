"""Label writes on every ledger back end: batches, history, unknown ids, one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from frisk.errors import ConflictError, StoreError
from frisk.store import LabelStatus, LabelWrite, SqlLedger, default_url, open_ledger
from frisk.store.tables import labels

from .test_ledger_contract import decision

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    url = (
        default_url(tmp_path)
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = open_ledger(url)
    yield store
    store.close()


def w(txn: str, label: str, hours: int = 0, source: str = "chargeback") -> LabelWrite:
    return LabelWrite(txn, label, T0 + timedelta(hours=hours), source)


def test_a_batch_reports_new_changed_unchanged_and_unknown(ledger: SqlLedger) -> None:
    ledger.record_decision(decision("k1"))
    ledger.record_decision(decision("k2"))
    ledger.set_labels([w("k2", "fraud")], actor="alice")
    out = ledger.set_labels(
        [w("k1", "fraud"), w("k2", "legit", 1), w("ghost", "fraud"), w("k1", "fraud", 2)],
        actor="bob",
    )
    assert [(o.record.transaction_id, o.status, o.previous, o.known) for o in out] == [
        ("k1", LabelStatus.NEW, None, True),
        ("k2", LabelStatus.CHANGED, "fraud", True),
        ("ghost", LabelStatus.NEW, None, False),
        ("k1", LabelStatus.UNCHANGED, "fraud", True),
    ]
    # The same value again keeps the first arrival time and writes no history.
    k1 = ledger.get_label("k1")
    assert k1 is not None
    assert k1.label_timestamp == T0
    assert len(ledger.label_history("k1")) == 1
    assert [(h.previous, h.label, h.changed_by) for h in ledger.label_history("k2")] == [
        (None, "fraud", "alice"),
        ("fraud", "legit", "bob"),
    ]
    assert ledger.get_label("ghost") is not None


def test_the_same_id_twice_in_a_batch_is_two_changes_in_order(ledger: SqlLedger) -> None:
    out = ledger.set_labels([w("a", "fraud"), w("a", "legit", 1)], actor="x")
    assert [o.status for o in out] == [LabelStatus.NEW, LabelStatus.CHANGED]
    stored = ledger.get_label("a")
    assert stored is not None
    assert (stored.label, stored.label_timestamp) == ("legit", T0 + timedelta(hours=1))
    assert [(h.previous, h.label) for h in ledger.label_history("a")] == [
        (None, "fraud"),
        ("fraud", "legit"),
    ]


def test_a_failed_batch_writes_nothing(ledger: SqlLedger) -> None:
    ledger.set_labels([w("a", "fraud")], actor="x")
    # A naive time fails the batch's last insert, after "a" was updated: all of it rolls back.
    naive = LabelWrite("c", "fraud", datetime(2024, 3, 1), "x")
    with pytest.raises(StoreError):
        ledger.set_labels([w("a", "legit"), w("b", "fraud"), naive], actor="y")
    a = ledger.get_label("a")
    assert a is not None
    assert a.label == "fraud"
    assert ledger.get_label("b") is None
    assert len(ledger.label_history("a")) == 1


def test_a_label_changed_meanwhile_is_a_conflict(ledger: SqlLedger) -> None:
    ledger.set_labels([w("a", "fraud")], actor="x")
    fired: list[bool] = []

    # Another writer changes the row between this batch's read and its write (just before the
    # batch's UPDATE runs): the batch must not overwrite it.
    def meanwhile(conn: sa.Connection, clause: object, *_: object) -> None:
        if isinstance(clause, sa.Update) and clause.table is labels and not fired:
            fired.append(True)
            conn.execute(labels.update().where(labels.c.transaction_id == "a").values(label="x"))

    sa.event.listen(ledger.engine, "before_execute", meanwhile)
    try:
        with pytest.raises(ConflictError, match="changed while"):
            ledger.set_labels([w("a", "legit", 1)], actor="y")
    finally:
        sa.event.remove(ledger.engine, "before_execute", meanwhile)
    assert fired
    stored = ledger.get_label("a")
    assert stored is not None
    assert stored.label == "fraud"  # the batch rolled back, the meanwhile change with it
