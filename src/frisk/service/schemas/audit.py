"""The audit log, by page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuditEntryPublic", "AuditPublic"]


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built from the ledger's records

    id: int | None
    actor: str
    action: str
    target: str
    at: datetime
    before: Any = None
    after: Any = None


class AuditPublic(BaseModel):
    items: list[AuditEntryPublic] = Field(description="Newest first.")
    next_cursor: str | None
