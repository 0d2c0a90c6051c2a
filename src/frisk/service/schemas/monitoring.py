"""Live performance and drift."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

__all__ = [
    "DriftPublic",
    "DriftReferencePublic",
    "DriftWindowPublic",
    "FeaturePsiPublic",
    "PerformanceDayPublic",
    "PerformanceModelPublic",
    "PerformancePublic",
    "PsiPublic",
]


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
