"""What the HTTP API returns: response models in families (``DecisionPublic``, ``StatsPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from frisk.schema import LabelValue, parse_label
from frisk.store.ledger import AuditEntry, DecisionRecord, LabelChange, LabelRecord

if TYPE_CHECKING:
    from frisk.store.reviews import HistoryItem, ReviewItem

__all__ = [
    "AuditEntryPublic",
    "DecisionPublic",
    "ErrorPublic",
    "HealthPublic",
    "HistoryItemPublic",
    "LabelChangePublic",
    "LabelCreate",
    "LabelOutcomePublic",
    "LabelPublic",
    "LabelsCreated",
    "LabelsPublic",
    "ModelPublic",
    "ModelsPublic",
    "ReadyPublic",
    "ReasonPublic",
    "ReviewChangeCreate",
    "ReviewDetailPublic",
    "ReviewPublic",
    "ReviewsPublic",
    "StatsPublic",
    "UploadProblemPublic",
    "UploadPublic",
]


class ReasonPublic(BaseModel):
    feature: str
    value: float | str | None
    contribution: float
    sentence: str


class DecisionPublic(BaseModel):
    """A decision as the client sees it, the same on the first call and on every retry."""

    transaction_id: str
    score: float = Field(description="Calibrated probability of fraud, 0 to 1.")
    risk_score: int = Field(ge=0, le=100)
    risk_tier: str
    action: str = Field(description="allow, review or block.")
    reasons: list[ReasonPublic]
    model_version: str
    latency_ms: float = Field(description="Server time to decide, measured when first decided.")
    degraded: bool

    @classmethod
    def from_record(cls, record: DecisionRecord) -> DecisionPublic:
        return cls(
            transaction_id=record.transaction_id,
            score=record.score,
            risk_score=record.risk_score,
            risk_tier=record.tier,
            action=record.action,
            reasons=[ReasonPublic.model_validate(r) for r in record.reasons],
            model_version=record.model_version,
            latency_ms=float(record.timings.get("total", 0.0)),
            degraded=record.degraded,
        )


class ErrorPublic(BaseModel):
    """Every error response: a type, a message, and the request id to quote when asking why."""

    error: str
    message: str
    request_id: str
    field: str | None = None
    reason: str | None = None


class HealthPublic(BaseModel):
    status: str = "ok"


class ReadyPublic(BaseModel):
    ready: bool
    engine: bool
    ledger: bool
    model_version: str | None


class StatsPublic(BaseModel):
    uptime_seconds: float
    model_version: str | None
    decisions_since_start: dict[str, int] = Field(description="By action, this process only.")
    decisions_today: int = Field(description="Recorded in the ledger since 00:00 UTC.")
    alerts_today: int
    alert_rate_today: float
    alert_budget: float
    over_budget: bool
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    latency_window: int = Field(description="Decisions the percentiles are taken over.")


class ModelPublic(BaseModel):
    """The model deciding now."""

    version: str
    catalogue_version: str | None = None
    thresholds: dict[str, float] | None = Field(
        default=None, description="Cut points on the score: medium, review, block."
    )
    loaded_at: datetime | None = None
    source: str | None = None
    features: int | None = None


class ModelsPublic(BaseModel):
    serving: ModelPublic | None = Field(description="None while no engine is loaded.")


class UploadProblemPublic(BaseModel):
    """A row not decided: invalid (with its row and column) or a conflict (with its id)."""

    reason: str
    row: int | None = Field(default=None, description="Data row in the file, from 1.")
    column: str | None = None
    transaction_id: str | None = None


class UploadPublic(BaseModel):
    """What an upload did; the outcome of every decided row is at ``download``."""

    upload_id: str
    download: str = Field(description="GET this path for the outcome per row as CSV.")
    rows: int = Field(description="Data rows in the file.")
    scored: int = Field(description="Rows decided now or answered from the ledger.")
    replayed: int = Field(description="Of those, answered from the ledger (decided before).")
    invalid: int
    conflicts: int = Field(description="Ids decided before for another body; not decided again.")
    duplicates_dropped: int = Field(description="Rows dropped by the mapping's duplicates option.")
    actions: dict[str, int] = Field(description="Scored rows by action.")
    problems: list[UploadProblemPublic] = Field(description="The first problems, in row order.")


# -- labels ---------------------------------------------------------------------------------

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class LabelCreate(BaseModel):
    """One label as a client sends it (alone, or as an item of ``{"labels": [...]}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_id: Annotated[_Text, StringConstraints(max_length=256)]
    label: LabelValue = Field(
        description="fraud or legit; 1/0, true/false and yes/no are read as well."
    )
    source: Annotated[_Text, StringConstraints(max_length=64)] = Field(
        default="api", description="Where the label comes from: chargeback, review, api, ..."
    )
    label_timestamp: AwareDatetime | None = Field(
        default=None,
        description="When the label became known (not in the future); default now. Features "
        "of transactions after this time see it.",
    )

    @field_validator("label", mode="before")
    @classmethod
    def _label(cls, value: object) -> LabelValue:
        return parse_label(value)

    @field_validator("transaction_id", "source")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(c) < 32 for c in value):
            raise ValueError("must not contain control characters")
        return value


def labels_body_schema(max_batch: int) -> dict[str, Any]:
    """The OpenAPI request body of POST /v1/labels: one label, or {"labels": [...]}."""
    one = LabelCreate.model_json_schema()
    one.pop("title", None)
    defs = one.pop("$defs", {})
    # Inline the enum so the schema stands alone (the body is read by hand, see routes.labels).
    one["properties"]["label"] = {
        "anyOf": [
            {"type": "string", "examples": [v.value for v in LabelValue]},
            {"type": "integer", "enum": [0, 1]},
            {"type": "boolean"},
        ],
        "description": one["properties"]["label"].get("description", ""),
    }
    assert all(name == "LabelValue" for name in defs)
    many = {
        "type": "object",
        "additionalProperties": False,
        "required": ["labels"],
        "properties": {
            "labels": {"type": "array", "items": one, "minItems": 1, "maxItems": max_batch}
        },
    }
    return {
        "required": True,
        "content": {"application/json": {"schema": {"anyOf": [one, many]}}},
    }


class LabelOutcomePublic(BaseModel):
    transaction_id: str
    label: str
    previous: str | None = Field(description="The label before this request (None: none).")
    status: Literal["new", "changed", "unchanged", "unknown"] = Field(
        description="unknown: the ledger holds no decision for this id; the label is stored."
    )


class LabelsCreated(BaseModel):
    """What POST /v1/labels did, in total and per item (in the order sent)."""

    received: int
    applied: int = Field(
        description="Labels handed to the running engine's label features (new or changed, "
        "of a known transaction)."
    )
    new: int
    changed: int
    unchanged: int = Field(description="The same label again: nothing written.")
    unknown: list[str] = Field(description="Ids without a decision in the ledger (stored).")
    labels: list[LabelOutcomePublic]


class LabelPublic(BaseModel):
    transaction_id: str
    label: str
    label_timestamp: datetime
    source: str
    updated_by: str
    updated_at: datetime

    @classmethod
    def from_record(cls, record: LabelRecord) -> LabelPublic:
        return cls(
            transaction_id=record.transaction_id,
            label=record.label,
            label_timestamp=record.label_timestamp,
            source=record.source,
            updated_by=record.updated_by,
            updated_at=record.updated_at,
        )


class LabelChangePublic(BaseModel):
    previous: str | None
    label: str
    source: str
    changed_by: str
    changed_at: datetime

    @classmethod
    def from_change(cls, change: LabelChange) -> LabelChangePublic:
        return cls(
            previous=change.previous,
            label=change.label,
            source=change.source,
            changed_by=change.changed_by,
            changed_at=change.changed_at,
        )


class LabelsPublic(BaseModel):
    """A transaction's label now, and every change of it, oldest first."""

    label: LabelPublic | None
    history: list[LabelChangePublic]


# -- the review queue -----------------------------------------------------------------------


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
    transaction_id: str
    event_time: datetime
    amount: float | None
    currency: str | None
    payer_id: str | None
    payee_id: str | None
    score: float
    action: str
    label: str | None

    @classmethod
    def from_item(cls, item: HistoryItem) -> HistoryItemPublic:
        return cls(
            transaction_id=item.transaction_id,
            event_time=item.event_time,
            amount=item.amount,
            currency=item.currency,
            payer_id=item.payer_id,
            payee_id=item.payee_id,
            score=item.score,
            action=item.action,
            label=item.label,
        )


class AuditEntryPublic(BaseModel):
    actor: str
    action: str
    target: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> AuditEntryPublic:
        return cls(
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            at=entry.at,
            before=entry.before,
            after=entry.after,
        )


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
    assignee: Annotated[_Text, StringConstraints(max_length=128)] | None = None
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
