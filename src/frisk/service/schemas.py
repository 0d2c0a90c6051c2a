"""What the HTTP API returns: response models in families (``DecisionPublic``, ``StatsPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from frisk.store.ledger import DecisionRecord

__all__ = [
    "DecisionPublic",
    "ErrorPublic",
    "HealthPublic",
    "ModelPublic",
    "ModelsPublic",
    "ReadyPublic",
    "ReasonPublic",
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

    @classmethod
    def from_record(cls, record: DecisionRecord) -> DecisionPublic:
        return cls.model_validate(decision_body(record))


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
