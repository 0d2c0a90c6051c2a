"""Labels into the ledger, then into the engine's label features: one order for every entry point.

``POST /v1/labels``, a review's verdict and a stream consumer's label feed all write through
``record_labels``: the ledger first (a changed label keeps its history), then the running engine,
which sees a label from its ``label_timestamp`` on. Writing and handing over happen under one
lock (``LABEL_WRITES``), so the engine sees labels in the order of their ledger ``updated_at``
(its restart watermark depends on that).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from frisk.engine import DecisionEngine, LearnsLabels
from frisk.store.ledger import LabelOutcome, LabelStatus, LabelWrite, Ledger

__all__ = ["LABEL_WRITES", "apply_labels", "record_labels"]

LABEL_WRITES = threading.Lock()


def record_labels(
    ledger: Ledger, engine: DecisionEngine | None, writes: Sequence[LabelWrite], actor: str
) -> tuple[list[LabelOutcome], int]:
    """Write labels to the ledger, then apply them to the engine; outcomes and how many applied."""
    with LABEL_WRITES:
        outcomes = ledger.set_labels(writes, actor=actor)
        return outcomes, apply_labels(engine, outcomes)


def apply_labels(engine: DecisionEngine | None, outcomes: Sequence[LabelOutcome]) -> int:
    """Hand new and changed labels of known transactions to the engine's features; how many.

    An unchanged label is not applied again (it would count twice). A changed one is applied as
    a new label event: features cannot take back the value it replaced, which keeps counting
    until state is rebuilt from the ledger. Call with ``LABEL_WRITES`` held.
    """
    if engine is None or not engine.ready() or not isinstance(engine, LearnsLabels):
        return 0
    applied = 0
    for o in outcomes:
        if o.known and o.status is not LabelStatus.UNCHANGED:
            record = o.record
            engine.apply_label(
                record.transaction_id,
                record.label == "fraud",
                record.label_timestamp,
                recorded_at=record.updated_at,
            )
            applied += 1
    return applied
