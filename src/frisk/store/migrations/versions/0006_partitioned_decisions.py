"""PostgreSQL: ``decisions`` partitioned by day of ``event_time``, ids unique in ``decision_ids``.

An existing ledger is converted in place: the table is renamed, the partitioned one created with
a partition for every day it holds and the coming ones (``frisk.store.partitions``), the rows
and their ids copied, the old table dropped. The primary key becomes ``(transaction_id,
event_time)`` (PostgreSQL requires the partition column in it); ``decision_ids`` and a row
trigger keep an id recorded once across all days. The downgrade copies back into one table.

SQLite is left as it is.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from frisk.store.partitions import AHEAD_DAYS, DEFAULT_PARTITION, ID_TRIGGER_SQL, create_days

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The indexes of ``decisions`` at 0005, created on the partitioned table (each partition gets
# its own).
_INDEXES = {
    "ix_decisions_created_at": "created_at",
    "ix_decisions_event_time": "event_time, transaction_id",
    "ix_decisions_action_score": "action, score",
    "ix_decisions_payer": "payer_id, event_time",
    "ix_decisions_payee": "payee_id, event_time",
}


def _rename_away(table: str, suffix: str) -> None:
    op.execute(f"ALTER TABLE decisions RENAME TO {table}")
    op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT decisions_pkey TO {table}_pkey")
    for name in _INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_{suffix}")


def _indexes() -> None:
    for name, columns in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON decisions ({columns})")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _rename_away("decisions_unpartitioned", "unpartitioned")
    op.execute(
        "CREATE TABLE decisions (LIKE decisions_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (event_time)"
    )
    op.execute(
        "ALTER TABLE decisions ADD CONSTRAINT decisions_pkey "
        "PRIMARY KEY (transaction_id, event_time)"
    )
    _indexes()
    op.execute(
        "CREATE TABLE decision_ids (transaction_id VARCHAR(256) PRIMARY KEY, "
        "event_time TIMESTAMP WITH TIME ZONE NOT NULL)"
    )
    op.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF decisions DEFAULT")
    days = set(
        bind.execute(
            sa.text(
                "SELECT DISTINCT (event_time AT TIME ZONE 'UTC')::date FROM decisions_unpartitioned"
            )
        ).scalars()
    )
    today = datetime.now(UTC).date()
    days.update(today + timedelta(days=n) for n in range(AHEAD_DAYS + 1))
    create_days(bind, days)
    op.execute("INSERT INTO decisions SELECT * FROM decisions_unpartitioned")
    op.execute(
        "INSERT INTO decision_ids (transaction_id, event_time) "
        "SELECT transaction_id, event_time FROM decisions_unpartitioned"
    )
    op.execute("DROP TABLE decisions_unpartitioned")
    op.execute(ID_TRIGGER_SQL)
    op.execute(
        "CREATE TRIGGER decision_id BEFORE INSERT ON decisions "
        "FOR EACH ROW EXECUTE FUNCTION frisk_decision_id()"
    )
    op.execute("ANALYZE decisions")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER decision_id ON decisions")
    op.execute("DROP FUNCTION frisk_decision_id()")
    _rename_away("decisions_partitioned", "partitioned")
    op.execute("CREATE TABLE decisions (LIKE decisions_partitioned INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE decisions ADD CONSTRAINT decisions_pkey PRIMARY KEY (transaction_id)")
    _indexes()
    op.execute("INSERT INTO decisions SELECT * FROM decisions_partitioned")
    op.execute("DROP TABLE decisions_partitioned CASCADE")
    op.execute("DROP TABLE decision_ids")
