"""The ledger of decisions, labels, API keys and audit: SQLite by default, or PostgreSQL.

``open_ledger(url)`` connects and migrates; ``default_url(home)`` is the embedded SQLite file.
"""

from __future__ import annotations

from frisk.store.database import default_url, make_engine
from frisk.store.ledger import (
    ApiKeyRecord,
    AuditEntry,
    DecisionRecord,
    LabelChange,
    LabelRecord,
    Ledger,
    Role,
)
from frisk.store.migrate import current_revision, head_revision, upgrade
from frisk.store.sql import SqlLedger, open_ledger

__all__ = [
    "ApiKeyRecord",
    "AuditEntry",
    "DecisionRecord",
    "LabelChange",
    "LabelRecord",
    "Ledger",
    "Role",
    "SqlLedger",
    "current_revision",
    "default_url",
    "head_revision",
    "make_engine",
    "open_ledger",
    "upgrade",
]
