"""Initial ledger: decisions, labels with history, API keys, audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("transaction_id", sa.String(256), primary_key=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        _time("event_time"),
        sa.Column("transaction", _json(), nullable=False),
        sa.Column("features", _json(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("risk_score", sa.SmallInteger(), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reasons", _json(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("timings", _json(), nullable=False),
        _time("created_at"),
        sa.Column("degraded", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_decisions_created_at", "decisions", ["created_at"])
    op.create_index("ix_decisions_event_time", "decisions", ["event_time", "transaction_id"])
    op.create_table(
        "labels",
        sa.Column("transaction_id", sa.String(256), primary_key=True),
        sa.Column("label", sa.String(16), nullable=False),
        _time("label_timestamp"),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        _time("updated_at"),
    )
    op.create_table(
        "label_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("transaction_id", sa.String(256), nullable=False),
        sa.Column("previous", sa.String(16), nullable=True),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        _time("changed_at"),
    )
    op.create_index("ix_label_history_transaction_id", "label_history", ["transaction_id", "id"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        _time("created_at"),
        _time("revoked_at", nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("before", _json(), nullable=True),
        sa.Column("after", _json(), nullable=True),
        _time("at"),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target", "id"])


def downgrade() -> None:
    for table in ("audit_log", "api_keys", "label_history", "labels", "decisions"):
        op.drop_table(table)
