"""Labels set inside a caller's transaction: ``Ledger.set_labels`` and a review's resolution."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from frisk.errors import ConflictError
from frisk.store.records import LabelOutcome, LabelRecord, LabelStatus, LabelWrite
from frisk.store.tables import decisions, label_history, labels

__all__ = ["write_labels"]

# Ids per IN (...) list: well under SQLite's bound-parameter limit.
_IN_CHUNK = 500


def write_labels(
    conn: Connection, writes: Sequence[LabelWrite], *, actor: str, at: datetime
) -> list[LabelOutcome]:
    """Set labels in order within the caller's transaction (see ``Ledger.set_labels``).

    Current labels and known ids are read in bulk; a label changed by someone else meanwhile
    (the stored row no longer matches what was read) raises ``ConflictError``, so the caller's
    transaction rolls back and nothing is written.
    """
    ids = list(dict.fromkeys(w.transaction_id for w in writes))
    stored: dict[str, LabelRecord] = {}
    known: set[str] = set()
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        rows = conn.execute(sa.select(labels).where(labels.c.transaction_id.in_(chunk))).all()
        stored.update((row.transaction_id, LabelRecord(**row._mapping)) for row in rows)
        found = sa.select(decisions.c.transaction_id).where(decisions.c.transaction_id.in_(chunk))
        known.update(conn.execute(found).scalars())
    current = dict(stored)
    outcomes: list[LabelOutcome] = []
    history: list[dict[str, Any]] = []
    for w in writes:
        before = current.get(w.transaction_id)
        is_known = w.transaction_id in known
        if before is not None and before.label == w.label:
            outcomes.append(LabelOutcome(before, before.label, LabelStatus.UNCHANGED, is_known))
            continue
        record = LabelRecord(w.transaction_id, w.label, w.label_timestamp, w.source, actor, at)
        current[w.transaction_id] = record
        previous = None if before is None else before.label
        history.append(
            {
                "transaction_id": w.transaction_id,
                "previous": previous,
                "label": w.label,
                "source": w.source,
                "changed_by": actor,
                "changed_at": at,
            }
        )
        status = LabelStatus.NEW if before is None else LabelStatus.CHANGED
        outcomes.append(LabelOutcome(record, previous, status, is_known))
    inserts = []
    for txn, record in current.items():
        old = stored.get(txn)
        if record is old:
            continue
        values = {
            "label": record.label,
            "label_timestamp": record.label_timestamp,
            "source": record.source,
            "updated_by": record.updated_by,
            "updated_at": record.updated_at,
        }
        if old is None:
            inserts.append({"transaction_id": txn, **values})
            continue
        # Only if the row is still what was read: another writer's change is not overwritten.
        changed = conn.execute(
            labels.update()
            .where(
                labels.c.transaction_id == txn,
                labels.c.label == old.label,
                labels.c.updated_at == old.updated_at,
            )
            .values(values)
        )
        if changed.rowcount != 1:
            raise ConflictError(f"the label of {txn!r} changed while it was being set; retry")
    if inserts:  # a concurrent first label of the same id fails here: IntegrityError
        conn.execute(labels.insert(), inserts)
    if history:
        conn.execute(label_history.insert(), history)
    return outcomes
