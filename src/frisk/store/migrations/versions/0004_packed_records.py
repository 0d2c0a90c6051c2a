"""Packed decision records: the transaction, reasons, timings, policy and body hash in one column.

Decisions recorded before keep their JSON columns and read as before; new ones leave them NULL and
fill ``record`` (``frisk.store.decision_codec``) and ``amount`` instead.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.alter_column("body_hash", existing_type=sa.String(64), nullable=True)
        for name in ("transaction", "reasons", "timings"):
            batch.alter_column(name, existing_type=_json(), nullable=True)
        batch.add_column(sa.Column("record", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("amount", sa.Float(), nullable=True))


def downgrade() -> None:
    # Packed rows get their JSON columns back first: nothing recorded since the upgrade is lost.
    from frisk.store.decision_rows import unpack_records_to_json

    unpack_records_to_json(op.get_bind())
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("amount")
        batch.drop_column("record")
        for name in ("transaction", "reasons", "timings"):
            batch.alter_column(name, existing_type=_json(), nullable=False)
        batch.alter_column("body_hash", existing_type=sa.String(64), nullable=False)
