"""The ledger: what the service records, and the ``Ledger`` Protocol every back end implements.

Records are frozen dataclasses with plain JSON-able payloads so that a back end stores them without
knowing the domain. Times are timezone-aware UTC on the way in and on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from frisk.schema import Role

__all__ = [
    "ApiKeyRecord",
    "AuditEntry",
    "DecisionRecord",
    "LabelChange",
    "LabelOutcome",
    "LabelRecord",
    "LabelStatus",
    "LabelWrite",
    "Ledger",
    "Role",
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


@runtime_checkable
class Ledger(Protocol):
    """The durable record of decisions, labels, API keys and the audit log.

    Every method raises ``StoreError`` when the back end fails and ``ConflictError`` when a write
    contradicts what is recorded; driver errors never escape.
    """

    def record_decision(self, decision: DecisionRecord) -> DecisionRecord:
        """Insert ``decision`` unless its transaction id is recorded; return the recorded row.

        The caller compares ``body_hash`` of the result with its own to tell a retry (same body)
        from a conflict (another body under the same id).
        """
        ...

    def record_decisions(self, records: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        """``record_decision`` for many in one transaction (one commit, one fsync): the recorded
        row of each, in order.

        A decision that was inserted comes back as the very object given, so ``result[i] is
        records[i]`` tells a new decision from one recorded before (by another process, or
        earlier in the same call).
        """
        ...

    def get_decision(self, transaction_id: str) -> DecisionRecord | None: ...

    def has_decision(self, transaction_id: str) -> bool:
        """Whether ``transaction_id`` is recorded: far cheaper than ``get_decision``, for the
        scoring path, which asks it of every request and mostly hears no."""
        ...

    def recent_decisions(
        self, limit: int = 50, *, before: datetime | None = None, action: str | None = None
    ) -> list[DecisionRecord]:
        """Newest first by ``created_at``; ``before`` pages backwards."""
        ...

    def decisions_since(self, since: datetime, *, batch: int = 1000) -> Iterator[DecisionRecord]:
        """Decisions whose transaction happened at or after ``since``, in event order."""
        ...

    def decision_counts(self, since: datetime) -> dict[str, int]:
        """Decisions created at or after ``since``, counted by action."""
        ...

    def set_label(
        self,
        transaction_id: str,
        label: str,
        *,
        label_timestamp: datetime,
        source: str,
        actor: str,
    ) -> LabelRecord:
        """Set (or change) a label, keeping the previous value in the history."""
        ...

    def set_labels(self, writes: Sequence[LabelWrite], *, actor: str) -> list[LabelOutcome]:
        """Set labels in order, in one transaction; one outcome per write.

        A changed label keeps the value it replaced in the history; the same value again writes
        nothing (the stored label and its timestamp stay). A label of a transaction the ledger
        has no decision for is stored all the same (``known`` False).
        """
        ...

    def get_label(self, transaction_id: str) -> LabelRecord | None: ...

    def label_history(self, transaction_id: str) -> list[LabelChange]: ...

    def add_api_key(self, key: ApiKeyRecord) -> None:
        """Store a new key; ``ConflictError`` when the key id exists."""
        ...

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    def list_api_keys(self, *, include_revoked: bool = False) -> list[ApiKeyRecord]: ...

    def revoke_api_key(self, key_id: str, at: datetime) -> ApiKeyRecord:
        """Revoke a key (idempotent); ``NotFoundError`` when there is no such key."""
        ...

    def append_audit(self, entry: AuditEntry) -> None: ...

    def audit_log(self, *, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        ...

    def ping(self) -> None:
        """Raise ``StoreError`` unless the back end answers."""
        ...

    def close(self) -> None: ...
