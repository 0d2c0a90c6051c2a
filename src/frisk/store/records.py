"""The records the ledger keeps and hands out: frozen dataclasses with plain JSON-able payloads.

A back end stores them without knowing the domain. Times are timezone-aware UTC on the way in and
on the way out. The ``Ledger`` Protocol and its sub-stores (``frisk.store.ledger``) speak them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from frisk.schema import Role

__all__ = [
    "JSON",
    "ApiKeyRecord",
    "AuditEntry",
    "DailyCounts",
    "DayCounts",
    "DecisionRecord",
    "HistoryItem",
    "LabelChange",
    "LabelOutcome",
    "LabelRecord",
    "LabelStatus",
    "LabelWrite",
    "ReviewAction",
    "ReviewChange",
    "ReviewFilter",
    "ReviewItem",
    "ReviewPage",
    "ReviewStatus",
    "ReviewUpdate",
    "ShadowDecision",
    "WindowRow",
]

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision as recorded; ``body_hash`` identifies the request that produced it."""

    transaction_id: str
    body_hash: str
    event_time: datetime  # the transaction's own timestamp, for warming state in event order
    transaction: JSON
    features: Mapping[str, float | None]
    score: float
    risk_score: int
    tier: str
    action: str
    reasons: Sequence[JSON]
    model_version: str
    timings: Mapping[str, float]  # milliseconds per stage, including "total"
    created_at: datetime
    degraded: bool = False
    # What the rules and lists did (matched rules with the values they read, which one decided);
    # None for a decision made without a policy.
    policy: JSON | None = None
    # The transaction's parties, which the ledger copies out of ``transaction`` into indexed
    # columns (a review shows each one's history). Not part of a record's identity.
    payer_id: str | None = field(default=None, compare=False)
    payee_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class LabelRecord:
    """The current label of a transaction."""

    transaction_id: str
    label: str
    label_timestamp: datetime
    source: str
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LabelChange:
    """One change of a label: who, when, and the value it replaced (None for the first)."""

    transaction_id: str
    previous: str | None
    label: str
    source: str
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class LabelWrite:
    """A label to set: ``label`` is "fraud" or "legit", known from ``label_timestamp`` on."""

    transaction_id: str
    label: str
    label_timestamp: datetime
    source: str


class LabelStatus(StrEnum):
    """What setting a label did: a first label, a changed one, or the same value again."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class LabelOutcome:
    """One label write: the label now stored, the value it replaced, and whether a decision for
    the transaction is in the ledger (``known``)."""

    record: LabelRecord
    previous: str | None
    status: LabelStatus
    known: bool


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as stored: never the key itself, only its SHA-256."""

    key_id: str
    key_hash: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None = None
    #: requests per second this key may send; None: the default for its role
    rate_limit: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what to which thing, with the state before and after."""

    actor: str
    action: str
    target: str
    at: datetime
    before: JSON | None = None
    after: JSON | None = None
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ShadowDecision:
    """What a challenger in shadow would have decided about a served transaction."""

    transaction_id: str
    model_version: str
    score: float
    risk_score: int
    tier: str
    action: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WindowRow:
    """One decision of a drift window: its score, event time and the asked features' values."""

    score: float
    event_time: datetime
    values: tuple[float | str | None, ...]


@dataclass(frozen=True, slots=True)
class DayCounts:
    """Decisions of one model version on one day (UTC), with what their labels say so far."""

    day: date
    model_version: str
    decisions: int
    alerts: int
    labelled: int
    fraud: int
    alerted_fraud: int
    fraud_amount: float
    amount_caught: float


@dataclass(frozen=True, slots=True)
class DailyCounts:
    """``DayCounts`` of ``[first, last]``: served decisions and shadow ones."""

    first: date
    last: date
    served: list[DayCounts]
    shadowed: list[DayCounts]


class ReviewStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class ReviewAction(StrEnum):
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    RESOLVE = "resolve"
    REOPEN = "reopen"


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A review decision and its review state."""

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
    status: ReviewStatus
    assignee: str | None
    resolution: str | None
    note: str | None
    updated_at: datetime | None
    updated_by: str | None
    resolved_at: datetime | None
    version: int


@dataclass(frozen=True, slots=True)
class ReviewFilter:
    """Which reviews to list; ages are measured from ``now`` back to the decision's creation."""

    statuses: frozenset[ReviewStatus] = frozenset({ReviewStatus.OPEN, ReviewStatus.ASSIGNED})
    tiers: frozenset[str] = frozenset()
    assignee: str | None = None
    min_age: timedelta | None = None
    max_age: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ReviewPage:
    items: list[ReviewItem]
    next_cursor: str | None
    total: int


@dataclass(frozen=True, slots=True)
class ReviewChange:
    """What an analyst asks: an action, with its assignee or resolution, a note, a version."""

    action: ReviewAction
    assignee: str | None = None
    resolution: str | None = None  # fraud / legit
    note: str | None = None
    version: int | None = None  # the version the analyst saw; None skips the check


@dataclass(frozen=True, slots=True)
class ReviewUpdate:
    """A change as recorded: the review after it, and the label a resolution set."""

    review: ReviewItem
    label: LabelOutcome | None


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One decision of a party, with its label if it has one."""

    transaction_id: str
    event_time: datetime
    amount: float | None
    currency: str | None
    payer_id: str | None
    payee_id: str | None
    score: float
    action: str
    label: str | None
