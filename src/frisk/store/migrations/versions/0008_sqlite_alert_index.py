"""SQLite: ``ix_decisions_action_score`` alerts-only, as PostgreSQL's since 0007.

The review queue's index (decisions by action, highest score first) held every decision on
SQLite, nearly all of them ``allow``, which no query reads through it. Each one's entry sat at a
random place of the index (its score), so every decision dirtied a page of its own there: on
the service's group commits of ~3 decisions, 1.1 of the ~6 pages a decision wrote to the WAL
(then to the database at checkpoint). Partial, ``WHERE action <> 'allow'``, it holds only the
alerts. SQLite uses a partial index only for a query that repeats its condition, so the reads
of an action other than ``allow`` (the review queue's, ``recent_decisions``') say
``action <> 'allow'`` as well (``frisk.store.tables.ALERT``).

A later batch migration of ``decisions`` on SQLite (which copies the table and re-creates its
indexes from reflection) must keep the condition: SQLAlchemy reflects it as ``sqlite_where``.

PostgreSQL has the partial index since 0007: nothing to do there.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_INDEX = "ix_decisions_action_score"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index(_INDEX, table_name="decisions")
    op.create_index(
        _INDEX, "decisions", ["action", "score"], sqlite_where=sa.text("action <> 'allow'")
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index(_INDEX, table_name="decisions")
    op.create_index(_INDEX, "decisions", ["action", "score"])
