"""The ledger's tables (SQLAlchemy Core), shared by every SQL back end and the migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

__all__ = [
    "ALERT",
    "api_keys",
    "audit_log",
    "decision_ids",
    "decisions",
    "feature_catalogues",
    "label_history",
    "labels",
    "list_entries",
    "lists",
    "metadata",
    "policy_versions",
    "reviews",
    "rules",
    "shadow_decisions",
]


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

# The partial index's condition, the same on both dialects.
_ALERTS_ONLY = sa.text("action <> 'allow'")

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("transaction_id", sa.String(256), primary_key=True),
    # body_hash, transaction, reasons, timings and policy: decisions recorded before packed
    # records (migration 0004) keep them here; NULL since, their values are in ``record``.
    sa.Column("body_hash", sa.String(64), nullable=True),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    sa.Column("transaction", _json(), nullable=True),
    # The features as JSON: decisions recorded before packed vectors (migration 0003); NULL since.
    sa.Column("features", _json(), nullable=True),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("risk_score", sa.SmallInteger(), nullable=False),
    sa.Column("tier", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("reasons", _json(), nullable=True),
    sa.Column("model_version", sa.String(128), nullable=False),
    sa.Column("timings", _json(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("degraded", sa.Boolean(), nullable=False, default=False),
    # What the rules and lists did: every rule that matched (shadow too), with the values it read,
    # and which one decided. None for decisions made without a policy.
    sa.Column("policy", _json(), nullable=True),
    # The parties, copied out of the transaction so that a review can show each one's recent
    # history through an index (an index on a JSON expression is invisible to SQLite reflection
    # and lost by Alembic's batch migrations there).
    sa.Column("payer_id", sa.String(256), nullable=True),
    sa.Column("payee_id", sa.String(256), nullable=True),
    # The features as a packed vector (``frisk.store.feature_codec``) in the order of the names
    # of ``feature_catalogues`` row ``catalogue_id``: a tenth of the JSON's bytes.
    sa.Column("catalogue_id", sa.Integer(), nullable=True),
    sa.Column("feature_values", sa.LargeBinary(), nullable=True),
    # The rest of the payload packed (``frisk.store.decision_codec``): the transaction, reasons,
    # timings, policy and body hash, ~130 B against ~600 B as JSON columns.
    sa.Column("record", sa.LargeBinary(), nullable=True),
    # The transaction's amount, copied out of it for the monitoring's sums (NULL before 0004:
    # those rows' amount is in their JSON ``transaction``).
    sa.Column("amount", sa.Float(), nullable=True),
    sa.Index("ix_decisions_created_at", "created_at"),
    sa.Index("ix_decisions_event_time", "event_time", "transaction_id"),
    # The review queue reads decisions by action, highest score first. Only the alerts (migration
    # 0007 on PostgreSQL, 0008 on SQLite): no query reads ``allow`` decisions through it, and
    # each one's entry cost a page write. SQLite uses it only for a query that also says
    # ``ALERT``.
    sa.Index(
        "ix_decisions_action_score",
        "action",
        "score",
        postgresql_where=_ALERTS_ONLY,
        sqlite_where=_ALERTS_ONLY,
    ),
    sa.Index("ix_decisions_payer", "payer_id", "event_time"),
    sa.Index("ix_decisions_payee", "payee_id", "event_time"),
)

#: The condition of the partial ``ix_decisions_action_score``: a read of decisions of an action
#: other than ``allow`` adds it, without which SQLite does not use that index.
ALERT = decisions.c.action != "allow"

# PostgreSQL only (migration 0006, ``frisk.store.partitions``): there ``decisions`` is
# partitioned by day and its primary key is (transaction_id, event_time); every recorded id is
# here once, written by a trigger in the same transaction, so an id stays unique across days and
# is found by one index probe. SQLite's ``decisions`` keeps ``transaction_id`` as its key.
decision_ids = sa.Table(
    "decision_ids",
    metadata,
    sa.Column("transaction_id", sa.String(256), primary_key=True),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    info={"dialects": ("postgresql",)},
)

# The feature names of decisions, once per catalogue (an ordered list of names), not per row.
# ``digest`` (SHA-256 of the names as JSON) finds a catalogue's row; ``id`` is what a row keeps.
feature_catalogues = sa.Table(
    "feature_catalogues",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("names", _json(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
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
    # Requests per second (migration 0005); NULL: the default for the key's role.
    sa.Column("rate_limit", sa.Float(), nullable=True),
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

# -- the feedback loop: review state and shadow decisions ---------------------------------------

# A decision with action "review" is in the queue; its row here appears on the first change
# (assignment, resolution). No row means open and unassigned.
reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("transaction_id", sa.String(256), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # open / assigned / resolved
    sa.Column("assignee", sa.String(128), nullable=True),
    sa.Column("resolution", sa.String(16), nullable=True),  # fraud / legit once resolved
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("updated_by", sa.String(128), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),  # optimistic concurrency
    sa.Index("ix_reviews_status", "status", "transaction_id"),
)

# What a challenger in shadow decided on the same traffic: recorded, never returned.
shadow_decisions = sa.Table(
    "shadow_decisions",
    metadata,
    sa.Column("transaction_id", sa.String(256), primary_key=True),
    sa.Column("model_version", sa.String(128), primary_key=True),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("risk_score", sa.SmallInteger(), nullable=False),
    sa.Column("tier", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_shadow_decisions_version", "model_version", "created_at"),
)

# -- analyst policy: rules and lists, versioned (history is in the audit log) -------------------

rules = sa.Table(
    "rules",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("expression", sa.Text(), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

lists = sa.Table(
    "lists",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # allow / block
    sa.Column("field", sa.String(128), nullable=True),  # a hard list on this transaction field
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

list_entries = sa.Table(
    "list_entries",
    metadata,
    sa.Column("list_name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), primary_key=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("added_by", sa.String(128), nullable=False),
    sa.Column("added_at", UTCDateTime(), nullable=False),
)

# One row per versioned thing ("rules", "lists"): bumped in the same transaction as a change, so
# every service process sees a change by comparing one number.
policy_versions = sa.Table(
    "policy_versions",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
