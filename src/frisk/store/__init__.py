"""The ledger of decisions, labels, API keys and audit: SQLite by default, or PostgreSQL.

``open_ledger(url)`` connects and migrates; ``default_url(home)`` is the embedded SQLite file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from frisk.store.ledger import (
    ApiKeyRecord,
    AuditEntry,
    DecisionRecord,
    LabelChange,
    LabelOutcome,
    LabelRecord,
    LabelStatus,
    LabelWrite,
    Ledger,
    Role,
)

if TYPE_CHECKING:
    from frisk.store.database import default_url, make_engine
    from frisk.store.lists import SqlListStore
    from frisk.store.migrate import current_revision, head_revision, upgrade
    from frisk.store.reviews import (
        HistoryItem,
        ReviewAction,
        ReviewChange,
        ReviewFilter,
        ReviewItem,
        ReviewPage,
        ReviewStatus,
        ReviewStore,
        ReviewUpdate,
    )
    from frisk.store.rules import SqlRuleStore
    from frisk.store.sql import SqlLedger, open_ledger

# SQLAlchemy and Alembic cost ~0.5 s to import; load them only when the ledger is really used, so
# that CLI commands which never touch it start fast.
_LAZY = {
    "default_url": "frisk.store.database",
    "make_engine": "frisk.store.database",
    "current_revision": "frisk.store.migrate",
    "head_revision": "frisk.store.migrate",
    "upgrade": "frisk.store.migrate",
    "SqlLedger": "frisk.store.sql",
    **dict.fromkeys(
        (
            "HistoryItem",
            "ReviewAction",
            "ReviewChange",
            "ReviewFilter",
            "ReviewItem",
            "ReviewPage",
            "ReviewStatus",
            "ReviewStore",
            "ReviewUpdate",
        ),
        "frisk.store.reviews",
    ),
    "SqlListStore": "frisk.store.lists",
    "SqlRuleStore": "frisk.store.rules",
    "open_ledger": "frisk.store.sql",
}

__all__ = [
    "ApiKeyRecord",
    "AuditEntry",
    "DecisionRecord",
    "HistoryItem",
    "LabelChange",
    "LabelOutcome",
    "LabelRecord",
    "LabelStatus",
    "LabelWrite",
    "Ledger",
    "ReviewAction",
    "ReviewChange",
    "ReviewFilter",
    "ReviewItem",
    "ReviewPage",
    "ReviewStatus",
    "ReviewStore",
    "ReviewUpdate",
    "Role",
    "SqlLedger",
    "SqlListStore",
    "SqlRuleStore",
    "current_revision",
    "default_url",
    "head_revision",
    "make_engine",
    "open_ledger",
    "upgrade",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'frisk.store' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
