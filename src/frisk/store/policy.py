"""Ledger reads for the policy: the audit log by page, and recorded decisions for backtests.

The rule and list stores live in ``frisk.store.rules`` and ``frisk.store.lists`` (re-exported).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from frisk.store._driver_errors import translate_errors
from frisk.store._versioned import versions
from frisk.store.ledger import AuditEntry
from frisk.store.lists import ListInfo, SqlListStore
from frisk.store.rules import RuleInfo, SqlRuleStore
from frisk.store.tables import audit_log, decisions, labels

__all__ = [
    "ListInfo",
    "RuleInfo",
    "SqlListStore",
    "SqlRuleStore",
    "audit_page",
    "recorded_decisions",
    "versions",
]


def audit_page(
    engine: Engine, *, target: str | None = None, limit: int = 50, before: int | None = None
) -> list[AuditEntry]:
    """Audit entries newest first, optionally of one target; ``before`` is an entry id (paging)."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if target is not None:
        query = query.where(audit_log.c.target == target)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    with translate_errors("reading the audit log"), engine.connect() as conn:
        return [AuditEntry(**row._mapping) for row in conn.execute(query).all()]


def recorded_decisions(
    engine: Engine, *, start: datetime | None = None, end: datetime | None = None
) -> list[dict[str, Any]]:
    """Decisions whose transaction happened in ``[start, end)``, with their labels, in event order.

    What a backtest over the ledger reads (``frisk.policy.history.recorded_frame``).
    """
    query = (
        sa.select(
            decisions.c.transaction_id,
            decisions.c.event_time,
            decisions.c.transaction,
            decisions.c.features,
            decisions.c.score,
            decisions.c.risk_score,
            decisions.c.tier,
            decisions.c.action,
            decisions.c.policy,
            labels.c.label,
        )
        .select_from(
            decisions.outerjoin(labels, labels.c.transaction_id == decisions.c.transaction_id)
        )
        .order_by(decisions.c.event_time, decisions.c.transaction_id)
    )
    if start is not None:
        query = query.where(decisions.c.event_time >= start)
    if end is not None:
        query = query.where(decisions.c.event_time < end)
    with translate_errors("reading decisions to backtest"), engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
