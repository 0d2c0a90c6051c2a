"""Decisions as the client sees them: ``DecisionPublic`` and what the policy did."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from frisk.engine.answer import decision_body
from frisk.store.records import (
    DecisionRecord,
)

__all__ = [
    "DecisionDetailPublic",
    "DecisionPolicyPublic",
    "DecisionPublic",
    "ReasonPublic",
    "RuleMatchPublic",
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
