"""Errors, health, readiness and live statistics."""

from __future__ import annotations

from pydantic import BaseModel, Field

from frisk.service.schemas.monitoring import PerformanceDayPublic

__all__ = ["ErrorPublic", "HealthPublic", "ReadyPublic", "StatsPublic", "WorkerStatsPublic"]


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


class WorkerStatsPublic(BaseModel):
    """One worker process's own figures."""

    pid: int
    uptime_seconds: float
    decisions_since_start: dict[str, int] = Field(description="By action.")
    latency_ms_p50: float | None
    latency_ms_p99: float | None


class StatsPublic(BaseModel):
    uptime_seconds: float = Field(description="Of the worker that answers.")
    model_version: str | None
    decisions_since_start: dict[str, int] = Field(
        description="By action, summed over the live worker processes of this instance."
    )
    decisions_today: int = Field(description="Recorded in the ledger since 00:00 UTC.")
    alerts_today: int
    alert_rate_today: float
    alert_budget: float
    over_budget: bool
    latency_ms_p50: float | None = Field(description="Of the worker that answers.")
    latency_ms_p99: float | None = Field(description="Of the worker that answers.")
    latency_window: int = Field(description="Decisions the percentiles are taken over.")
    workers: list[WorkerStatsPublic] = Field(
        default_factory=list,
        description="Each live worker process of this instance (frisk serve --workers N); one "
        "entry for a single process.",
    )
    live: list[PerformanceDayPublic] = Field(
        default_factory=list,
        description="Live performance per day and model over monitoring.live_days (by labels "
        "received so far), as in GET /v1/monitoring/performance.",
    )
