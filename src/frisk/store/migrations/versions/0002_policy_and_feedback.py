"""Policy and feedback: rules, lists, review state, shadow decisions, decisions.policy.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("policy", _json(), nullable=True))
        batch.add_column(sa.Column("payer_id", sa.String(256), nullable=True))
        batch.add_column(sa.Column("payee_id", sa.String(256), nullable=True))
    # The parties of decisions recorded before: copied out of their transaction.
    recorded = sa.table(
        "decisions", sa.column("transaction", _json()), sa.column("payer_id"), sa.column("payee_id")
    )
    op.execute(
        recorded.update().values(
            payer_id=recorded.c.transaction["payer_id"].as_string(),
            payee_id=recorded.c.transaction["payee_id"].as_string(),
        )
    )
    op.create_index("ix_decisions_action_score", "decisions", ["action", "score"])
    op.create_index("ix_decisions_payer", "decisions", ["payer_id", "event_time"])
    op.create_index("ix_decisions_payee", "decisions", ["payee_id", "event_time"])
    op.create_table(
        "reviews",
        sa.Column("transaction_id", sa.String(256), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(128), nullable=True),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(128), nullable=False),
        _time("updated_at"),
        _time("resolved_at", nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_reviews_status", "reviews", ["status", "transaction_id"])
    op.create_table(
        "shadow_decisions",
        sa.Column("transaction_id", sa.String(256), primary_key=True),
        sa.Column("model_version", sa.String(128), primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("risk_score", sa.SmallInteger(), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        _time("created_at"),
    )
    op.create_index(
        "ix_shadow_decisions_version", "shadow_decisions", ["model_version", "created_at"]
    )
    op.create_table(
        "rules",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        _time("updated_at"),
    )
    op.create_table(
        "lists",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("field", sa.String(128), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        _time("updated_at"),
    )
    op.create_table(
        "list_entries",
        sa.Column("list_name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), primary_key=True),
        _time("expires_at", nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        _time("added_at"),
    )
    op.create_table(
        "policy_versions",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("updated_at"),
    )


def downgrade() -> None:
    for table in (
        "policy_versions",
        "list_entries",
        "lists",
        "rules",
        "shadow_decisions",
        "reviews",
    ):
        op.drop_table(table)
    op.drop_index("ix_decisions_payee", table_name="decisions")
    op.drop_index("ix_decisions_payer", table_name="decisions")
    op.drop_index("ix_decisions_action_score", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("payee_id")
        batch.drop_column("payer_id")
        batch.drop_column("policy")
