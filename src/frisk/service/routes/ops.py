"""Operations: /health and /ready (no key: load balancers send none), /metrics, /v1/stats."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime, time
from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from frisk.errors import StoreError
from frisk.schema import Action
from frisk.service.auth import AnalystKey
from frisk.service.deps import StateDep
from frisk.service.metrics import CONTENT_TYPE, multiprocess_dir
from frisk.service.routes.monitoring import OpsDep
from frisk.service.schemas import (
    HealthPublic,
    PerformanceDayPublic,
    ReadyPublic,
    StatsPublic,
    WorkerStatsPublic,
)
from frisk.service.worker_stats import read_workers

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthPublic)
async def health() -> HealthPublic:
    """The process answers. Needs no key, checks nothing else (see /ready)."""
    return HealthPublic()


@router.get("/ready", response_model=ReadyPublic, responses={503: {"model": ReadyPublic}})
async def ready(state: StateDep) -> JSONResponse:
    """Ready to decide: an engine that says so, and a ledger that answers (200, else 503).

    Needs no key, as load balancers send none; it tells only these two booleans (the model
    version is at /v1/stats and /v1/models, for analysts).
    """
    engine_ok = state.decision_engine is not None and state.decision_engine.ready()
    try:
        await run_in_threadpool(state.ledger.ping)
        ledger_ok = True
    except StoreError:
        ledger_ok = False
    body = ReadyPublic(
        ready=engine_ok and ledger_ok,
        engine=engine_ok,
        ledger=ledger_ok,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(state: StateDep, ops: OpsDep, _key: AnalystKey) -> Response:
    """Prometheus text exposition, with live performance and drift gauges from the ledger."""
    version = state.model_version
    state.metrics.set_model_version(version)
    await run_in_threadpool(ops.refresh_gauges)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/v1/stats", response_model=StatsPublic)
async def stats(state: StateDep, ops: OpsDep, _key: AnalystKey) -> StatsPublic:
    """Totals, today's alert rate against the budget, latency percentiles, uptime, and live
    performance per day and model over the last ``monitoring.live_days`` days.
    """
    midnight = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
    today = await run_in_threadpool(state.ledger.decision_counts, midnight)
    decided = sum(today.values())
    alerts = decided - today.get(Action.ALLOW.value, 0)
    rate = alerts / decided if decided else 0.0
    budget = state.settings.api.alert_budget
    latency = state.stats.latency_percentiles()
    live = await run_in_threadpool(ops.performance, state.settings.monitoring.live_days)
    directory = multiprocess_dir()
    workers = await run_in_threadpool(
        read_workers, None if directory is None else Path(directory), state.stats, None
    )
    totals: Counter[str] = Counter()
    for worker in workers:
        totals.update(worker.decisions_since_start)
    return StatsPublic(
        uptime_seconds=round(state.stats.uptime(), 3),
        model_version=state.model_version,
        decisions_since_start=dict(totals),
        decisions_today=decided,
        alerts_today=alerts,
        alert_rate_today=rate,
        alert_budget=budget,
        over_budget=rate > budget,
        latency_ms_p50=None if latency is None else round(latency[0], 3),
        latency_ms_p99=None if latency is None else round(latency[1], 3),
        latency_window=state.stats.window,
        live=[PerformanceDayPublic.model_validate(row.to_dict()) for row in live.days],
        workers=[
            WorkerStatsPublic.model_validate(
                {k: v for k, v in asdict(w).items() if k != "rule_hits"}
            )
            for w in workers
        ],
    )
