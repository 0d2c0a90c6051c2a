"""What the ledger holds: rows, bytes on disk (indexes included) and the oldest record per table.

Bytes are the database's own accounting: SQLite's ``dbstat`` pages of the table and its indexes;
PostgreSQL's ``pg_total_relation_size`` (TOAST and indexes included), summed over a partitioned
table's partitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from frisk.store._driver_errors import translate_errors
from frisk.store.tables import (
    audit_log,
    decision_ids,
    decisions,
    feature_catalogues,
    label_history,
    labels,
    reviews,
    shadow_decisions,
)

__all__ = ["TableStats", "ledger_stats"]

# Each table with the column that dates its rows.
_DATED: tuple[tuple[sa.Table, sa.Column[Any]], ...] = (
    (decisions, decisions.c.event_time),
    (labels, labels.c.updated_at),
    (label_history, label_history.c.changed_at),
    (reviews, reviews.c.updated_at),
    (shadow_decisions, shadow_decisions.c.created_at),
    (audit_log, audit_log.c.at),
    (feature_catalogues, feature_catalogues.c.created_at),
)


@dataclass(frozen=True, slots=True)
class TableStats:
    """One table: its rows, its bytes with its indexes, and its oldest row's time."""

    table: str
    rows: int
    bytes: int
    oldest: datetime | None

    @property
    def bytes_per_row(self) -> float | None:
        return self.bytes / self.rows if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows": self.rows,
            "bytes": self.bytes,
            "bytes_per_row": None if self.bytes_per_row is None else round(self.bytes_per_row),
            "oldest": None if self.oldest is None else self.oldest.isoformat(),
        }


def ledger_stats(engine: Engine) -> list[TableStats]:
    """Rows, bytes and the oldest row of each table that grows with traffic."""
    out = []
    with translate_errors("reading the ledger's statistics"), engine.connect() as conn:
        sizes = _sqlite_bytes(conn) if engine.dialect.name == "sqlite" else None
        dated_tables = _DATED
        if engine.dialect.name == "postgresql":  # the ids of the partitioned decisions
            dated_tables = (*_DATED[:1], (decision_ids, decision_ids.c.event_time), *_DATED[1:])
        for table, dated in dated_tables:
            rows, oldest = conn.execute(sa.select(sa.func.count(), sa.func.min(dated))).one()
            size = sizes.get(table.name, 0) if sizes is not None else _postgres_bytes(conn, table)
            out.append(TableStats(table.name, int(rows), int(size), _utc(oldest, dated)))
    return out


def _sqlite_bytes(conn: Connection) -> dict[str, int]:
    """Pages per table, its indexes counted with it (``dbstat``)."""
    owners: dict[str, str] = dict(
        conn.exec_driver_sql("SELECT name, tbl_name FROM sqlite_schema").all()
    )
    sizes: dict[str, int] = {}
    for name, pages in conn.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
        owner = owners.get(name, name)
        sizes[owner] = sizes.get(owner, 0) + int(pages)
    return sizes


def _postgres_bytes(conn: Connection, table: sa.Table) -> int:
    # A partitioned table has no storage of its own: its partitions (and theirs) have.
    query = sa.text(
        "SELECT COALESCE((SELECT SUM(pg_total_relation_size(relid)) "
        "FROM pg_partition_tree(to_regclass(:name)) WHERE isleaf), "
        "pg_total_relation_size(to_regclass(:name)))"
    )
    return int(conn.execute(query, {"name": table.name}).scalar_one())


def _utc(value: Any, column: sa.Column[Any]) -> datetime | None:
    if value is None:
        return None
    # min() over SQLite text loses the column's type: parse it as the column does.
    if isinstance(value, str):
        return column.type.process_result_value(  # type: ignore[attr-defined, no-any-return]
            datetime.fromisoformat(value), None
        )
    return value  # type: ignore[no-any-return]
