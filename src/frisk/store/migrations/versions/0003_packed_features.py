"""Packed feature vectors: decisions keep their features as bytes, the names once per catalogue.

Decisions recorded before keep their JSON ``features`` and read as before; new ones leave it NULL
and fill ``catalogue_id`` and ``feature_values`` instead.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "feature_catalogues",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("names", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("decisions") as batch:
        batch.alter_column("features", existing_type=_json(), nullable=True)
        batch.add_column(sa.Column("catalogue_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("feature_values", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Packed rows get their JSON back first: nothing recorded since the upgrade is lost.
    from frisk.store.feature_catalogues import unpack_to_json

    unpack_to_json(op.get_bind())
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("feature_values")
        batch.drop_column("catalogue_id")
        batch.alter_column("features", existing_type=_json(), nullable=False)
    op.drop_table("feature_catalogues")
