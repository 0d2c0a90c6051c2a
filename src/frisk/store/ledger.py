"""The ``Ledger`` Protocol every back end implements, and the sub-stores hung off it.

Everything a route, the engine or monitoring needs from storage is a method here or of a sub-store
(``rules``, ``lists``, ``reviews``, ``monitoring``): nothing outside ``frisk.store`` reaches past it
to an engine or a table. The records they speak live in ``frisk.store.records`` (re-exported).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from frisk.schema import Role
from frisk.store.records import (
    JSON,
    ApiKeyRecord,
    AuditEntry,
    DailyCounts,
    DayCounts,
    DecisionRecord,
    LabelChange,
    LabelOutcome,
    LabelRecord,
    LabelStatus,
    LabelWrite,
    ShadowDecision,
    WindowRow,
)

if TYPE_CHECKING:
    from frisk.policy.audit import AuditRecord
    from frisk.policy.lists import ListEntry, ListSnapshot, NamedList
    from frisk.policy.rules import Rule
    from frisk.store.archive import ArchiveResult
    from frisk.store.lists import ListInfo
    from frisk.store.records import (
        HistoryItem,
        ReviewChange,
        ReviewFilter,
        ReviewItem,
        ReviewPage,
        ReviewUpdate,
    )
    from frisk.store.rules import RuleInfo
    from frisk.store.stats import TableStats

__all__ = [
    "ApiKeyRecord",
    "AuditEntry",
    "DailyCounts",
    "DayCounts",
    "DecisionRecord",
    "LabelChange",
    "LabelOutcome",
    "LabelRecord",
    "LabelStatus",
    "LabelWrite",
    "Ledger",
    "LedgerLists",
    "LedgerRules",
    "MonitoringReads",
    "ReviewQueue",
    "Role",
    "ShadowDecision",
    "WindowRow",
]


class LedgerRules(Protocol):
    """The ledger's rule set: ``frisk.policy.RuleStore``, and who changed each rule when."""

    @property
    def version(self) -> int: ...

    def state(self) -> tuple[int, tuple[Rule, ...]]: ...

    def describe(self) -> tuple[int, list[RuleInfo]]: ...

    def get(self, name: str) -> Rule: ...

    def put(self, rule: Rule, *, actor: str, at: datetime) -> AuditRecord | None: ...

    def remove(self, name: str, *, actor: str, at: datetime) -> AuditRecord: ...

    def replace_all(
        self, rules: Iterable[Rule], *, actor: str, at: datetime
    ) -> list[AuditRecord]: ...


class LedgerLists(Protocol):
    """The ledger's allow and block lists: ``frisk.policy.ListStore``, sizes and pages."""

    @property
    def version(self) -> int: ...

    def create(self, spec: NamedList, *, actor: str, at: datetime) -> AuditRecord: ...

    def drop(self, name: str, *, actor: str, at: datetime) -> AuditRecord: ...

    def add(
        self, name: str, entries: Iterable[ListEntry], *, actor: str, at: datetime
    ) -> AuditRecord: ...

    def remove(
        self, name: str, values: Iterable[str], *, actor: str, at: datetime
    ) -> AuditRecord: ...

    def entries(self, name: str) -> list[ListEntry]: ...

    def page(
        self, name: str, *, limit: int = 50, after: str | None = None
    ) -> tuple[ListInfo, list[tuple[ListEntry, str, datetime]]]: ...

    def describe(self) -> tuple[int, list[ListInfo]]: ...

    def snapshot(self, since: ListSnapshot | None = None) -> ListSnapshot: ...


class ReviewQueue(Protocol):
    """Decisions with action ``review`` and their review state (``frisk.store.reviews``)."""

    def page(
        self, where: ReviewFilter, *, now: datetime, limit: int = 50, cursor: str | None = None
    ) -> ReviewPage: ...

    def get(self, transaction_id: str) -> ReviewItem | None: ...

    def change(
        self, transaction_id: str, change: ReviewChange, *, actor: str, at: datetime
    ) -> ReviewUpdate: ...

    def history(
        self,
        *,
        payer_id: str | None = None,
        payee_id: str | None = None,
        before: datetime | None = None,
        limit: int = ...,
    ) -> list[HistoryItem]: ...


class MonitoringReads(Protocol):
    """What ``frisk.monitoring`` reads: drift windows, daily counts, retraining history."""

    def score_window(
        self,
        model_version: str,
        features: Sequence[tuple[str, bool]],
        *,
        last: int,
        since: datetime | None = None,
    ) -> list[WindowRow]:
        """The latest ``last`` decisions of ``model_version`` (created at or after ``since``),
        newest first, with the value of each ``(name, categorical)`` feature."""
        ...

    def transactions(self, *, before: datetime | None = None) -> Iterator[JSON]:
        """The recorded transactions (whose time is before ``before``), in event order."""
        ...

    def labels_known_before(self, cutoff: datetime) -> list[LabelRecord]:
        """Current labels whose ``label_timestamp`` is before ``cutoff``."""
        ...

    def daily_counts(self, days: int) -> DailyCounts | None:
        """The last ``days`` days up to the newest decision's; None for an empty ledger."""
        ...


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

    def audit_log(
        self, *, target: str | None = None, limit: int = 100, before: int | None = None
    ) -> list[AuditEntry]:
        """Newest first, optionally of one target; ``before`` is an entry id (paging)."""
        ...

    def labels_changed_since(self, since: datetime | None) -> list[LabelRecord]:
        """Labels set or changed after ``since`` (all when None), by ``updated_at``."""
        ...

    def decisions_with_labels(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        archive: Path | None = None,
    ) -> list[JSON]:
        """Decisions whose transaction happened in ``[start, end)`` with their current label,
        in event order: what a backtest over the ledger reads (``policy.history``); with
        ``archive``, those ``frisk ledger archive`` moved there too."""
        ...

    def record_shadow_decisions(self, decisions: Sequence[ShadowDecision]) -> None:
        """Record what a shadow model decided; one already recorded (id, version) is kept."""
        ...

    def policy_versions(self) -> dict[str, int]:
        """The version of the stored ``rules`` and ``lists``; 0 for one never changed."""
        ...

    @property
    def rules(self) -> LedgerRules: ...

    @property
    def lists(self) -> LedgerLists: ...

    @property
    def reviews(self) -> ReviewQueue: ...

    @property
    def monitoring(self) -> MonitoringReads: ...

    def on_close(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once the ledger closes (a poller stops rather than reconnect)."""
        ...

    def ping(self) -> None:
        """Raise ``StoreError`` unless the back end answers."""
        ...

    def stats(self) -> list[TableStats]:
        """Rows, bytes on disk and the oldest row of each table that grows with traffic."""
        ...

    def archive(
        self, before: datetime, to: Path, *, batch: int = 500, pause: float = 0.0
    ) -> ArchiveResult:
        """Move decisions of transactions before ``before``, with their labels and reviews, into
        Parquet under ``to`` (``frisk.store.archive``): verified, then deleted in batches."""
        ...

    def ensure_partitions(self, today: date | None = None) -> list[date]:
        """PostgreSQL: create the partitions of ``decisions`` for ``today`` (default: the UTC
        date) and the days ahead (``frisk.store.partitions``) that are missing; the days
        created. Nothing on SQLite."""
        ...

    def close(self) -> None: ...
