"""The review queue: items, details, and the changes analysts make."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from frisk.service.schemas._fields import Text
from frisk.service.schemas.audit import AuditEntryPublic
from frisk.service.schemas.decisions import DecisionPublic
from frisk.service.schemas.labels import LabelPublic
from frisk.store.records import ReviewItem

__all__ = [
    "HistoryItemPublic",
    "ReviewChangeCreate",
    "ReviewDetailPublic",
    "ReviewPublic",
    "ReviewsPublic",
]


class ReviewPublic(BaseModel):
    """A decision in the review queue and its review state."""

    transaction_id: str
    score: float
    risk_score: int
    tier: str
    action: str
    amount: float | None
    currency: str | None
    payer_id: str | None
    payee_id: str | None
    event_time: datetime
    created_at: datetime
    age_seconds: float = Field(description="Seconds since the decision was recorded.")
    status: Literal["open", "assigned", "resolved"]
    assignee: str | None
    resolution: Literal["fraud", "legit"] | None
    note: str | None = Field(description="The note of the latest change.")
    updated_at: datetime | None
    updated_by: str | None
    version: int = Field(description="Send it back with a change: a stale one is a 409.")

    @classmethod
    def from_item(cls, item: ReviewItem, now: datetime) -> ReviewPublic:
        """Not ``from_attributes``: the age is measured from ``now``."""
        return cls(
            transaction_id=item.transaction_id,
            score=item.score,
            risk_score=item.risk_score,
            tier=item.tier,
            action=item.action,
            amount=item.amount,
            currency=item.currency,
            payer_id=item.payer_id,
            payee_id=item.payee_id,
            event_time=item.event_time,
            created_at=item.created_at,
            age_seconds=round(max((now - item.created_at).total_seconds(), 0.0), 3),
            status=item.status.value,  # type: ignore[arg-type]
            assignee=item.assignee,
            resolution=item.resolution,  # type: ignore[arg-type]
            note=item.note,
            updated_at=item.updated_at,
            updated_by=item.updated_by,
            version=item.version,
        )


class ReviewsPublic(BaseModel):
    items: list[ReviewPublic]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null at the end."
    )
    total: int = Field(description="Reviews matching the filters, all pages.")


class HistoryItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built from the ledger's records

    transaction_id: str
    event_time: datetime
    amount: float | None
    currency: str | None
    payer_id: str | None
    payee_id: str | None
    score: float
    action: str
    label: str | None


class ReviewDetailPublic(BaseModel):
    """A review with what an analyst needs to decide it."""

    review: ReviewPublic
    decision: DecisionPublic
    label: LabelPublic | None
    payer_history: list[HistoryItemPublic] = Field(description="Newest first, at most 50.")
    payee_history: list[HistoryItemPublic] = Field(description="Newest first, at most 50.")
    audit: list[AuditEntryPublic] = Field(description="Changes of this review, newest first.")


class ReviewChangeCreate(BaseModel):
    """A change to a review: assign (to ``assignee``), unassign, resolve (as ``resolution``),
    reopen."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["assign", "unassign", "resolve", "reopen"]
    assignee: Annotated[Text, StringConstraints(max_length=128)] | None = None
    resolution: Literal["fraud", "legit"] | None = None
    note: Annotated[str, StringConstraints(max_length=4000)] | None = None
    version: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="The version read; 409 if it is stale."
    )

    @field_validator("assignee", "note")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value
