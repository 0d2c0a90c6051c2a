"""The ledger's tables (SQLAlchemy Core), shared by every SQL back end and the migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

__all__ = ["api_keys", "audit_log", "decisions", "label_history", "labels", "metadata"]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime everywhere: SQLite keeps no offset, so it is put back on read."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ledger stores aware UTC times")
        value = value.astimezone(UTC)
        # SQLite compares the stored text, which must then not carry an offset.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


metadata = sa.MetaData()

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("transaction_id", sa.String(256), primary_key=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    sa.Column("transaction", _json(), nullable=False),
    sa.Column("features", _json(), nullable=False),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("risk_score", sa.SmallInteger(), nullable=False),
    sa.Column("tier", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("reasons", _json(), nullable=False),
    sa.Column("model_version", sa.String(128), nullable=False),
    sa.Column("timings", _json(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("degraded", sa.Boolean(), nullable=False, default=False),
    sa.Index("ix_decisions_created_at", "created_at"),
    sa.Index("ix_decisions_event_time", "event_time", "transaction_id"),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("transaction_id", sa.String(256), primary_key=True),
    sa.Column("label", sa.String(16), nullable=False),
    sa.Column("label_timestamp", UTCDateTime(), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

label_history = sa.Table(
    "label_history",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("transaction_id", sa.String(256), nullable=False),
    sa.Column("previous", sa.String(16), nullable=True),
    sa.Column("label", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("changed_by", sa.String(128), nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
    sa.Index("ix_label_history_transaction_id", "transaction_id", "id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("before", _json(), nullable=True),
    sa.Column("after", _json(), nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_audit_log_target", "target", "id"),
)
