"""What the HTTP API returns: response models in families (``DecisionPublic``, ``StatsPublic``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from frisk.schema import LabelValue, parse_label
from frisk.store.ledger import AuditEntry, DecisionRecord, LabelChange, LabelRecord

if TYPE_CHECKING:
    from frisk.store.reviews import HistoryItem, ReviewItem

__all__ = [
    "AuditEntryPublic",
    "AuditPublic",
    "BacktestDayPublic",
    "BacktestPublic",
    "BacktestRequest",
    "BacktestRulePublic",
    "BacktestTotalsPublic",
    "CandidateRule",
    "DecisionDetailPublic",
    "DecisionPolicyPublic",
    "DecisionPublic",
    "DriftPublic",
    "ErrorPublic",
    "HealthPublic",
    "HistoryItemPublic",
    "LabelChangePublic",
    "LabelCreate",
    "LabelOutcomePublic",
    "LabelPublic",
    "LabelsCreated",
    "LabelsPublic",
    "ListChangePublic",
    "ListCreate",
    "ListDetailPublic",
    "ListEntriesCreate",
    "ListEntryCreate",
    "ListEntryPublic",
    "ListPublic",
    "ListUpdate",
    "ListsPublic",
    "ModelPublic",
    "ModelVersionPublic",
    "ModelsPublic",
    "PerformancePublic",
    "PromotePublic",
    "ReadyPublic",
    "ReasonPublic",
    "ReviewChangeCreate",
    "ReviewDetailPublic",
    "ReviewPublic",
    "ReviewsPublic",
    "RuleCreate",
    "RuleErrorPublic",
    "RuleMatchPublic",
    "RulePublic",
    "RuleUpdate",
    "RuleValidate",
    "RuleValidationPublic",
    "RulesPublic",
    "ShadowCreate",
    "StatsPublic",
    "UploadProblemPublic",
    "UploadPublic",
    "decision_body",
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
    policy: DecisionPolicyPublic | None = Field(
        default=None, description="What the rules and lists did; null when no policy ran."
    )

    @classmethod
    def from_record(cls, record: DecisionRecord) -> DecisionPublic:
        return cls.model_validate(decision_body(record))


class DecisionDetailPublic(DecisionPublic):
    """GET /v1/decisions/{id}: the decision, and on request what it read."""

    features: dict[str, float | str | None] | None = Field(
        default=None,
        description="The feature values the model and rules read, by name, as recorded with "
        "the decision: numbers, categories as text, null for missing (present only when asked "
        "for with ?include=features).",
    )

    @classmethod
    def from_record_with(cls, record: DecisionRecord, *, features: bool) -> DecisionDetailPublic:
        body = decision_body(record)
        if features:
            body["features"] = dict(record.features)
        return cls.model_validate(body)


def decision_body(record: DecisionRecord) -> dict[str, Any]:
    """``DecisionPublic.from_record(record)`` as plain JSON-ready data, without building models.

    POST /v1/score answers with this (pydantic construction, validation and encoding of the
    response cost ~30 µs a request); a test pins it to ``DecisionPublic``'s own dump.
    """
    return {
        "transaction_id": record.transaction_id,
        "score": float(record.score),
        "risk_score": int(record.risk_score),
        "risk_tier": record.tier,
        "action": record.action,
        "reasons": [
            {
                "feature": r["feature"],
                "value": _reason_value(r.get("value")),
                "contribution": float(r["contribution"]),
                "sentence": r["sentence"],
            }
            for r in record.reasons
        ],
        "model_version": record.model_version,
        "latency_ms": float(record.timings.get("total", 0.0)),
        "degraded": bool(record.degraded),
        # Recorded as the policy's own JSON (``PolicyDecision.to_json``), the public shape.
        "policy": record.policy,
    }


def _reason_value(value: Any) -> float | str | None:
    # As ReasonPublic.value (float | str | None) validates it: a number becomes a float.
    if value is None or isinstance(value, str):
        return value
    return float(value)


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
    live: list[PerformanceDayPublic] = Field(
        default_factory=list,
        description="Live performance per day and model over monitoring.live_days (by labels "
        "received so far), as in GET /v1/monitoring/performance.",
    )


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


class ModelVersionPublic(BaseModel):
    """A registered model version."""

    version: str
    stage: str = Field(description="production, shadow, archived (served once) or candidate.")
    created_at: str | None = None
    training: dict[str, Any] = Field(
        default_factory=dict, description="Training window, rows and frauds."
    )
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="Validation metrics recorded at training."
    )
    report: bool = Field(description="GET /v1/models/{version}/report has an HTML report.")


class ModelsPublic(BaseModel):
    serving: ModelPublic | None = Field(description="None while no engine is loaded.")
    shadow: ModelPublic | None = Field(
        default=None,
        description="The challenger scoring in shadow; its decisions are recorded "
        "in shadow_decisions, never returned.",
    )
    shadow_error: str | None = Field(
        default=None, description="Why the configured shadow model is not loaded."
    )
    reload_error: str | None = Field(
        default=None,
        description="Why the registry's production version is not served (the previous model "
        "keeps serving).",
    )
    versions: list[ModelVersionPublic] = Field(
        default_factory=list, description="Registered versions, oldest first (registry only)."
    )


class PromotePublic(BaseModel):
    version: str = Field(min_length=1, max_length=128, description="A registered version.")


class ShadowCreate(BaseModel):
    version: str | None = Field(
        default=None, max_length=128, description="A registered version; null stops shadowing."
    )


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


# -- monitoring ---------------------------------------------------------------------------------


class PerformanceDayPublic(BaseModel):
    """One model version on one day, by the labels received so far."""

    day: date | None = Field(description="The transactions' day (UTC).")
    model_version: str
    role: str = Field(description="production, shadow or retired.")
    decisions: int
    alerts: int = Field(description="Review or block.")
    alert_rate: float | None
    labelled: int
    fraud: int
    alerted_fraud: int
    precision: float | None = Field(description="Alerted fraud / alerts.")
    recall: float | None = Field(description="Alerted fraud / labelled fraud.")
    fraud_amount: float
    amount_caught: float


class PerformanceModelPublic(BaseModel):
    """One model version's totals over the window."""

    model_version: str
    role: str
    decisions: int
    alerts: int
    alert_rate: float | None
    labelled: int
    fraud: int
    alerted_fraud: int
    precision: float | None
    recall: float | None
    fraud_amount: float
    amount_caught: float


class PerformancePublic(BaseModel):
    budget: float = Field(description="The alert budget alert_rate is compared with.")
    start: date | None
    end: date | None = Field(description="The newest decision's day; the window ends there.")
    days: list[PerformanceDayPublic]
    models: list[PerformanceModelPublic]


class DriftWindowPublic(BaseModel):
    start: datetime | None
    end: datetime | None
    decisions: int


class DriftReferencePublic(BaseModel):
    model_version: str
    rows: int = Field(description="Held-out training rows the reference was built on.")


class PsiPublic(BaseModel):
    psi: float | None = Field(description="Null when the window has too few decisions.")
    alert: bool


class FeaturePsiPublic(PsiPublic):
    name: str
    ages: bool = Field(
        default=False,
        description="Grows with time by definition (seconds since the first event): its PSI "
        "rises as the deployment ages and never raises an alert.",
    )


class DriftPublic(BaseModel):
    alert_level: float
    window: DriftWindowPublic
    reference: DriftReferencePublic
    score: PsiPublic
    features: list[FeaturePsiPublic] = Field(description="Highest PSI first.")


StatsPublic.model_rebuild()  # its "live" rows are declared below it


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


# -- rules, lists, audit ---------------------------------------------------------------------

# PostgreSQL text cannot hold NUL: refuse it at the edge rather than fail in the ledger.
_FreeText = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]
_RuleName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]
_ListName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
_Expression = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00]*$")]
_Priority = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
RuleActionName = Literal["block", "review", "allow", "tag"]
RuleModeName = Literal["active", "shadow"]


class RuleMatchPublic(BaseModel):
    rule: str
    action: str
    mode: str
    values: dict[str, Any] = Field(description="The variables the rule read (null: missing).")


class DecisionPolicyPublic(BaseModel):
    """Who decided (a rule's name, ``list:<name>`` or ``model``) and every rule that matched."""

    decided_by: str
    action: str | None = None
    model_action: str | None = None
    matched: list[RuleMatchPublic] = Field(description="Every matching rule, shadow ones too.")
    tags: list[str] = Field(default_factory=list)
    lists: list[str] = Field(default_factory=list, description="Hard lists holding the payment.")
    rules_version: int | None = None
    lists_version: int | None = None


class RuleUpdate(BaseModel):
    """A rule's definition (PUT /v1/rules/{name}: the name is the path's)."""

    expression: _Expression
    action: RuleActionName
    priority: _Priority = 100
    mode: RuleModeName = "active"
    description: _FreeText = ""


class RuleCreate(RuleUpdate):
    name: _RuleName


class RulePublic(BaseModel):
    name: str
    expression: str
    action: str
    priority: int
    mode: str
    description: str
    updated_by: str
    updated_at: datetime
    hits: int = Field(description="Decisions the rule matched since the service started.")
    version: int = Field(description="The rule set's version when this was read.")


class RulesPublic(BaseModel):
    version: int = Field(description="The rule set's version; every change makes a new one.")
    rules: list[RulePublic] = Field(description="By priority, then name.")


class RuleSetReplace(BaseModel):
    """Rules-as-code: the stored rule set becomes exactly these rules, in one version."""

    rules: list[RuleCreate] = Field(max_length=1000)


class RuleChangePublic(BaseModel):
    action: str = Field(description="rule.create, rule.update or rule.delete.")
    rule: str


class RuleSetPublic(RulesPublic):
    changes: list[RuleChangePublic] = Field(description="What changed; empty when nothing did.")


class RuleValidate(BaseModel):
    expression: _Expression


class RuleErrorPublic(BaseModel):
    message: str
    line: int | None = None
    column: int | None = None


class RuleValidationPublic(BaseModel):
    valid: bool
    error: RuleErrorPublic | None = None


class CandidateRule(BaseModel):
    """A rule to backtest; hits are rows where the expression is true, whatever the action."""

    name: _RuleName | None = None
    expression: _Expression
    action: RuleActionName = "review"
    priority: _Priority = 100


class BacktestRequest(BaseModel):
    rule: CandidateRule | None = None
    rules: list[CandidateRule] | None = Field(default=None, max_length=100)
    start: date | None = Field(default=None, description="First day (UTC), inclusive.")
    end: date | None = Field(default=None, description="Last day (UTC), exclusive.")


class BacktestDayPublic(BaseModel):
    day: date
    transactions: int
    hits: int
    fraud_hits: int
    amount_hit: float
    fraud_amount_hit: float
    added_hits: int = Field(description="Hits the current policy and model do not alert on.")
    added_fraud: int


class BacktestTotalsPublic(BaseModel):
    transactions: int
    hits: int
    fraud_hits: int
    labelled_hits: int
    precision: float | None = Field(description="fraud_hits / labelled_hits; null without labels.")
    fraud_amount_caught: float
    fraud_amount_total: float
    added_hits: int
    added_fraud: int
    added_fraud_amount: float


class BacktestRulePublic(BaseModel):
    name: str
    expression: str
    hits: int
    fraud_hits: int
    labelled_hits: int
    precision: float | None
    fraud_amount_caught: float
    added_hits: int


class BacktestPublic(BaseModel):
    """A transaction is a hit when any candidate rule matches it."""

    days: list[BacktestDayPublic]
    totals: BacktestTotalsPublic
    rules: list[BacktestRulePublic] = Field(description="Each candidate on its own.")


class ListUpdate(BaseModel):
    kind: Literal["allow", "block"]
    field: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description="Makes a hard list: this transaction field is checked first."
    )
    description: _FreeText = ""


class ListCreate(ListUpdate):
    name: _ListName


class ListPublic(BaseModel):
    name: str
    kind: str
    field: str | None
    description: str
    size: int = Field(description="Entries, expired ones included.")
    updated_by: str
    updated_at: datetime


class ListsPublic(BaseModel):
    version: int
    lists: list[ListPublic]


class ListEntryCreate(BaseModel):
    value: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]
    expires_at: AwareDatetime | None = Field(default=None, description="Stops matching then.")
    note: _FreeText = ""


class ListEntriesCreate(BaseModel):
    entries: list[ListEntryCreate] = Field(min_length=1, max_length=10_000)


class ListEntryPublic(BaseModel):
    value: str
    expires_at: datetime | None
    note: str
    added_by: str
    added_at: datetime
    expired: bool


class ListDetailPublic(ListPublic):
    entries: list[ListEntryPublic] = Field(description="By value; page with cursor.")
    next_cursor: str | None


class ListChangePublic(BaseModel):
    list: str
    changed: int
    version: int = Field(description="The lists' version after the change.")


class AuditEntryPublic(BaseModel):
    id: int | None
    actor: str
    action: str
    target: str
    at: datetime
    before: Any = None
    after: Any = None

    @classmethod
    def from_entry(cls, entry: AuditEntry) -> AuditEntryPublic:
        return cls(
            id=entry.id,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            at=entry.at,
            before=entry.before,
            after=entry.after,
        )


class AuditPublic(BaseModel):
    items: list[AuditEntryPublic] = Field(description="Newest first.")
    next_cursor: str | None


DecisionPublic.model_rebuild()  # its policy field's model is defined further down


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
