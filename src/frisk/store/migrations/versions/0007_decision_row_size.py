"""PostgreSQL: ``decisions``' columns widest fixed-width first, the action index alerts-only.

Two things that cost bytes on every decision and bought nothing.

PostgreSQL aligns each fixed-width value to its width and stores columns in table order: in the
order of 0001-0006 a packed row lost 16 B to padding (before ``event_time``, ``created_at``,
``catalogue_id`` and ``amount``), ~18 B of heap a decision once page fill counts. Here the
8-byte columns come first, then the 4-, 2- and 1-byte ones, then the variable-length ones (whose
short headers need no alignment), the wide optional ones last.

``ix_decisions_action_score`` (the review queue's: decisions of action ``review``, highest score
first) held every decision, ~43 B each, nearly all of them ``allow``, which no query reads through
it (a list of ``allow`` decisions reads by time). It becomes partial, ``WHERE action <> 'allow'``:
the same reads of the other actions, a few bytes a decision.

Nothing else changes: the same columns, types, key, other indexes, partitions and trigger;
readers name their columns.

The partitioned table is rebuilt as in 0006: the old one and its partitions renamed away, the new
one created with a partition for every day the old one had, the rows copied (the ids are already
in ``decision_ids``: the trigger is created after the copy), the old one dropped. The downgrade
rebuilds it in the order of 0006. SQLite is left as it is.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from frisk.store.partitions import DEFAULT_PARTITION, ID_TRIGGER_SQL, create_days, partition_days

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The order of 0001-0006.
_BEFORE = (
    "transaction_id", "body_hash", "event_time", "transaction", "features", "score",
    "risk_score", "tier", "action", "reasons", "model_version", "timings", "created_at",
    "degraded", "policy", "payer_id", "payee_id", "catalogue_id", "feature_values", "record",
    "amount",
)  # fmt: skip
# 8-byte, 4-, 2-, 1-byte, short variable-length, then the packed payload and the columns only
# decisions recorded before 0003/0004 fill.
_AFTER = (
    "event_time", "created_at", "score", "amount", "catalogue_id", "risk_score", "degraded",
    "transaction_id", "tier", "action", "model_version", "payer_id", "payee_id",
    "feature_values", "record", "body_hash", "transaction", "features", "reasons", "timings",
    "policy",
)  # fmt: skip

# The indexes of ``decisions`` at 0006.
_INDEXES_BEFORE = {
    "ix_decisions_created_at": "(created_at)",
    "ix_decisions_event_time": "(event_time, transaction_id)",
    "ix_decisions_action_score": "(action, score)",
    "ix_decisions_payer": "(payer_id, event_time)",
    "ix_decisions_payee": "(payee_id, event_time)",
}
_INDEXES_AFTER = {
    **_INDEXES_BEFORE,
    "ix_decisions_action_score": "(action, score) WHERE action <> 'allow'",
}
_OLD = "decisions_reordering"


def _column_ddl(conn: Connection) -> dict[str, str]:
    """Each column's definition (type, NOT NULL, default) as ``decisions`` has it now."""
    rows = conn.execute(
        sa.text(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = to_regclass('decisions') AND a.attnum > 0 "
            "AND NOT a.attisdropped"
        )
    ).all()
    ddl = {}
    for name, kind, not_null, default in rows:
        ddl[name] = f'"{name}" {kind}' + (" NOT NULL" if not_null else "")
        if default is not None:
            ddl[name] += f" DEFAULT {default}"
    return ddl


def _rename_old(conn: Connection) -> None:
    """``decisions``, its partitions and all their indexes renamed away (their names free)."""
    tables = [
        name
        for (name,) in conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass('decisions')"
            )
        )
    ]
    tables.append("decisions")
    for table in tables:
        indexes = conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = to_regclass(:t)"
            ),
            {"t": table},
        ).scalars()
        for index in list(indexes):
            conn.execute(sa.text(f'ALTER INDEX "{index}" RENAME TO "{_renamed(index)}"'))
        conn.execute(sa.text(f'ALTER TABLE "{table}" RENAME TO "{_renamed(table)}"'))


def _renamed(name: str) -> str:
    # Within PostgreSQL's 63 bytes: the names here are at most ~45.
    return name.replace("decisions", _OLD, 1)


def _rebuild(order: tuple[str, ...], indexes: dict[str, str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    ddl = _column_ddl(bind)
    if set(ddl) != set(order):  # a column added since: this migration does not know its place
        raise RuntimeError(f"decisions has columns {sorted(ddl)}, expected {sorted(order)}")
    days = partition_days(bind)
    op.execute("DROP TRIGGER decision_id ON decisions")
    _rename_old(bind)
    columns = ", ".join(ddl[name] for name in order)
    op.execute(f"CREATE TABLE decisions ({columns}) PARTITION BY RANGE (event_time)")
    op.execute(
        "ALTER TABLE decisions ADD CONSTRAINT decisions_pkey "
        "PRIMARY KEY (transaction_id, event_time)"
    )
    for name, indexed in indexes.items():
        op.execute(f"CREATE INDEX {name} ON decisions {indexed}")
    op.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF decisions DEFAULT")
    create_days(bind, days)
    # No trigger yet: every copied id is in ``decision_ids`` already.
    names = ", ".join(f'"{name}"' for name in order)
    op.execute(f"INSERT INTO decisions ({names}) SELECT {names} FROM {_OLD}")
    op.execute(f"DROP TABLE {_OLD} CASCADE")
    op.execute(ID_TRIGGER_SQL)
    op.execute(
        "CREATE TRIGGER decision_id BEFORE INSERT ON decisions "
        "FOR EACH ROW EXECUTE FUNCTION frisk_decision_id()"
    )
    op.execute("ANALYZE decisions")


def upgrade() -> None:
    _rebuild(_AFTER, _INDEXES_AFTER)


def downgrade() -> None:
    _rebuild(_BEFORE, _INDEXES_BEFORE)
