"""Audit records of rule and list changes, produced as data for the caller to persist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["AuditRecord"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who changed which rule or list, when, and its JSON state before and after.

    The fields are those of ``frisk.store.ledger.AuditEntry``, so the service stores one with
    ``ledger.append_audit(AuditEntry(**asdict(record)))``. ``target`` is ``rule:<name>``,
    ``list:<name>`` or ``rules`` (a whole rule set); ``before`` is None for a creation, ``after``
    None for a deletion.
    """

    actor: str
    action: str
    target: str
    at: datetime
    before: Any = None
    after: Any = None
