"""Every decision matching a filter, in pages of (event_time, transaction_id) order.

Keyset pagination: each page is a fresh query for the rows after the last one read, so no cursor
or transaction stays open between pages (replay at start-up, the archive's day by day reading).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from frisk.store._driver_errors import translate_errors
from frisk.store.tables import decisions

__all__ = ["decision_pages"]


def decision_pages(
    engine: Engine, *where: sa.ColumnElement[bool], batch: int, doing: str
) -> Iterator[Sequence[Row[tuple[object, ...]]]]:
    """Pages of at most ``batch`` whole decision rows matching ``where``, oldest first; it stops
    after a short page. ``doing`` names the work in a store error."""
    after: tuple[datetime, str] | None = None
    while True:
        query = sa.select(decisions).where(*where)
        if after is not None:
            time_, txn = after
            query = query.where(
                sa.or_(
                    decisions.c.event_time > time_,
                    sa.and_(decisions.c.event_time == time_, decisions.c.transaction_id > txn),
                )
            )
        query = query.order_by(decisions.c.event_time, decisions.c.transaction_id).limit(batch)
        with translate_errors(doing), engine.connect() as conn:
            rows = conn.execute(query).all()
        if rows:
            yield rows
        if len(rows) < batch:
            return
        after = (rows[-1].event_time, rows[-1].transaction_id)
