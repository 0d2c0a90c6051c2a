"""PostgreSQL's ``decisions`` partitioned by day of ``event_time`` (UTC), from migration 0006.

- One partition per day, ``decisions_pYYYYMMDD``, range ``[day, day + 1)``, and a default
  partition ``decisions_default`` for any transaction time without a day partition yet (a
  late payment of a day already archived, a clock far ahead): a decision is always recorded.
- ``ensure_partitions`` creates the partitions of the coming days ahead; the migration, every
  ``open_ledger`` that migrates (service start, CLI) and every archive run call it. A day created
  while the default partition holds rows of it takes those rows with it, in one transaction.
- PostgreSQL requires a partitioned table's primary key to contain the partition column, so
  the key is ``(transaction_id, event_time)`` and ids are kept unique across days by
  ``decision_ids`` (``transaction_id`` primary key): a row trigger on ``decisions`` inserts the
  id there first (``ON CONFLICT DO NOTHING``) and skips the decision when the id was there, in
  the same transaction. ``has_decision`` and ``get_decision`` read the id there: one index probe,
  then the one partition of its time.
- ``archive`` drops a whole day's partition (``drop_day``) once the day is in verified Parquet
  parts, instead of deleting its rows.

SQLite keeps its single table: nothing here applies to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "AHEAD_DAYS",
    "DEFAULT_PARTITION",
    "drop_day",
    "ensure_partitions",
    "is_partitioned",
    "partition_days",
    "partition_name",
]

#: Days of partitions kept ahead of today.
AHEAD_DAYS = 14
DEFAULT_PARTITION = "decisions_default"
#: Set (``SET LOCAL``) while rows move between partitions: their ids are in ``decision_ids``.
MOVING = "frisk.moving_decisions"

# The trigger keeping ``decision_ids`` (migration 0006 creates it).
ID_TRIGGER_SQL = f"""
CREATE OR REPLACE FUNCTION frisk_decision_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('{MOVING}', true) = 'on' THEN
        RETURN NEW;
    END IF;
    INSERT INTO decision_ids (transaction_id, event_time)
        VALUES (NEW.transaction_id, NEW.event_time) ON CONFLICT (transaction_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$
"""


def partition_name(day: date) -> str:
    return f"decisions_p{day:%Y%m%d}"


def is_partitioned(conn: Connection) -> bool:
    """Whether ``decisions`` here is a partitioned table (PostgreSQL from migration 0006)."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(
        sa.text(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.oid = to_regclass('decisions')"
        )
    ).first()
    return found is not None


def partition_days(conn: Connection) -> list[date]:
    """The days with a partition attached to ``decisions``, oldest first."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('decisions')"
        )
    ).scalars()
    days = []
    for name in rows:
        if name.startswith("decisions_p"):
            try:
                days.append(datetime.strptime(name.removeprefix("decisions_p"), "%Y%m%d").date())
            except ValueError:
                continue
    return sorted(days)


def ensure_partitions(
    engine: Engine, *, today: date | None = None, ahead: int = AHEAD_DAYS
) -> list[date]:
    """Create the partitions of ``today`` and the ``ahead`` days after it that are missing;
    the days created. Nothing on a ledger that is not partitioned."""
    first = today or datetime.now(UTC).date()
    with engine.connect() as conn:
        if not is_partitioned(conn):
            return []
        have = set(partition_days(conn))
    made = []
    for n in range(ahead + 1):
        day = first + timedelta(days=n)
        if day not in have:
            with engine.begin() as conn:
                if create_day(conn, day):
                    made.append(day)
    return made


def create_day(conn: Connection, day: date) -> bool:
    """Create ``day``'s partition in ``conn``'s transaction, moving in the default partition's
    rows of that day; False if it exists already."""
    name = partition_name(day)
    exists = conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": name}).scalar()
    if exists is not None:
        return False
    start, end = _bounds(day)
    # The default partition must hold no row of the new range when the partition is created.
    conn.execute(sa.text(f"SET LOCAL {MOVING} = 'on'"))
    conn.execute(sa.text("CREATE TEMPORARY TABLE frisk_moving (LIKE decisions) ON COMMIT DROP"))
    conn.execute(
        sa.text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
            "WHERE event_time >= :start AND event_time < :end RETURNING *) "
            "INSERT INTO frisk_moving SELECT * FROM moved"
        ),
        {"start": start, "end": end},
    )
    conn.execute(
        sa.text(
            f"CREATE TABLE {name} PARTITION OF decisions "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )
    conn.execute(sa.text(f"INSERT INTO {name} SELECT * FROM frisk_moving"))
    conn.execute(sa.text("DROP TABLE frisk_moving"))
    conn.execute(sa.text(f"SET LOCAL {MOVING} = 'off'"))
    return True


def create_days(conn: Connection, days: Iterable[date]) -> None:
    """Create the partitions of ``days`` (empty default partition: the migration's copy)."""
    for day in sorted(set(days)):
        create_day(conn, day)


def drop_day(engine: Engine, day: date, expected: int) -> bool:
    """Detach and drop ``day``'s partition if it holds exactly ``expected`` rows (those just
    archived); False (nothing done) if it has no partition or holds others too (rows that
    arrived during the run: the caller then deletes the archived rows one batch at a time)."""
    name = partition_name(day)
    with engine.connect() as conn, conn.begin() as transaction:
        if conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": name}).scalar() is None:
            return False
        # Detached first (writes to ``decisions`` wait for this transaction), then counted:
        # a row that arrived after the archive read it is still there, and the detach undone.
        conn.execute(sa.text(f"ALTER TABLE decisions DETACH PARTITION {name}"))
        count = conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
        if count != expected:
            transaction.rollback()
            return False
        conn.execute(sa.text(f"DROP TABLE {name}"))
    return True


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)
