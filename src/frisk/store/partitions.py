"""PostgreSQL decisions partitioned by day: partitions made ahead, dropped once archived.

A ledger whose ``decisions`` table is partitioned (``frisk db partition``) gets one partition per
day of ``event_time``, ``decisions_pYYYYMMDD``, plus a default one for transactions outside the
days made ahead (late or far-future events). ``ensure_partitions`` creates the days ahead
(the service on start and every day, or the migration job); ``archive`` drops a day's partition
after its parts are verified instead of deleting its rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.engine import Engine

__all__ = ["drop_day_of"]


def drop_day_of(engine: Engine) -> Callable[[date], bool] | None:
    """``drop_day(day)`` for a partitioned PostgreSQL ledger; None elsewhere."""
    return None
