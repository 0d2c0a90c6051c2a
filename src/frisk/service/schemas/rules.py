"""Rules, rule sets, validation and backtests."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from frisk.service.schemas._fields import (
    Expression,
    FreeText,
    Priority,
    RuleActionName,
    RuleModeName,
    RuleName,
)

__all__ = [
    "BacktestDayPublic",
    "BacktestPublic",
    "BacktestRequest",
    "BacktestRulePublic",
    "BacktestTotalsPublic",
    "CandidateRule",
    "RuleChangePublic",
    "RuleCreate",
    "RuleErrorPublic",
    "RulePublic",
    "RuleSetPublic",
    "RuleSetReplace",
    "RuleUpdate",
    "RuleValidate",
    "RuleValidationPublic",
    "RulesPublic",
]


class RuleUpdate(BaseModel):
    """A rule's definition (PUT /v1/rules/{name}: the name is the path's)."""

    expression: Expression
    action: RuleActionName
    priority: Priority = 100
    mode: RuleModeName = "active"
    description: FreeText = ""


class RuleCreate(RuleUpdate):
    name: RuleName


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
    expression: Expression


class RuleErrorPublic(BaseModel):
    message: str
    line: int | None = None
    column: int | None = None


class RuleValidationPublic(BaseModel):
    valid: bool
    error: RuleErrorPublic | None = None


class CandidateRule(BaseModel):
    """A rule to backtest; hits are rows where the expression is true, whatever the action."""

    name: RuleName | None = None
    expression: Expression
    action: RuleActionName = "review"
    priority: Priority = 100


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
