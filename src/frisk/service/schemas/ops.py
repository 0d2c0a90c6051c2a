"""Errors, health, readiness and live statistics."""

from __future__ import annotations

from pydantic import BaseModel, Field

from frisk.service.schemas.monitoring import PerformanceDayPublic

__all__ = ["ErrorPublic", "HealthPublic", "ReadyPublic", "StatsPublic"]


class ErrorPublic(BaseModel):
    """Every error response: a type, a message, and the request id to quote when asking why."""

    error: str
    message: str
    request_id: str
    field: str | None = None
    reason: str | None = None
    index: int | None = Field(
        default=None, description="A batch: the item that stopped it (from 0)."
    )
    recorded: list[str] | None = Field(
        default=None,
        description="A batch: ids of the items before ``index``, decided and recorded.",
    )


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
