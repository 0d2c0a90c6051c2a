"""GET /v1/monitoring/performance and /v1/monitoring/drift (analyst): live figures and drift."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from frisk.service.auth import AnalystKey
from frisk.service.monitor import ModelOps
from frisk.service.schemas import DriftPublic, ErrorPublic, PerformancePublic

__all__ = ["OpsDep", "router"]

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])


async def _ops(request: Request) -> ModelOps:
    ops: ModelOps = request.app.state.model_ops
    return ops


OpsDep = Annotated[ModelOps, Depends(_ops)]


@router.get(
    "/performance",
    response_model=PerformancePublic,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 422, 503)},
)
async def performance(
    ops: OpsDep,
    _key: AnalystKey,
    days: Annotated[int, Query(ge=1, le=366, description="Days up to the newest decision.")] = 30,
) -> PerformancePublic:
    """Per day and model version: decisions, alerts against the budget, precision and recall
    by the labels received so far, fraud amount and amount caught; then totals per model.
    """
    result = await run_in_threadpool(ops.performance, days)
    return PerformancePublic.model_validate(result.to_dict())


@router.get(
    "/drift",
    response_model=DriftPublic,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 409, 422, 503)},
)
async def drift(
    ops: OpsDep,
    _key: AnalystKey,
    decisions: Annotated[
        int | None,
        Query(ge=10, le=1_000_000, description="The last N decisions (monitoring.drift_window)."),
    ] = None,
    hours: Annotated[
        float | None,
        Query(gt=0, le=24 * 366, description="Or those recorded in the last hours."),
    ] = None,
) -> DriftPublic:
    """PSI of the score and the top features: the serving model's recent decisions against its
    training reference. 409 when the model stores no reference.
    """
    report = await run_in_threadpool(ops.drift, decisions, hours)
    return DriftPublic.model_validate(report.to_dict())
