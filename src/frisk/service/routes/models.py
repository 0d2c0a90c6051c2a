"""GET /v1/models (analyst) and POST /v1/models/reload (admin): which model decides, hot swap."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from frisk.errors import ModelError
from frisk.service.auth import AdminKey, AnalystKey
from frisk.service.deps import StateDep
from frisk.service.engine import DecisionEngine
from frisk.service.errors import NotReadyError, error_response, request_id_of
from frisk.service.schemas import ErrorPublic, ModelPublic, ModelsPublic
from frisk.store.ledger import AuditEntry

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelsPublic, responses={401: {"model": ErrorPublic}})
async def models(state: StateDep, _key: AnalystKey) -> ModelsPublic:
    """The model deciding now: version, feature catalogue, thresholds, where it came from."""
    return ModelsPublic(serving=_serving(state.engine))


@router.post(
    "/models/reload",
    response_model=ModelsPublic,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 409, 422, 503)},
)
async def reload(request: Request, state: StateDep, key: AdminKey) -> ModelsPublic | JSONResponse:
    """Load the current model (the registry's production version) and swap it in.

    422 when it fails to load, 409 when it reads another feature catalogue; either way the model
    that was serving keeps serving.
    """
    engine = state.engine
    if engine is None:
        raise NotReadyError("no decision engine is loaded")
    before = engine.model_version
    try:
        await run_in_threadpool(engine.reload)
    except ModelError as exc:  # ArtifactError included: a missing, corrupt or mismatched model
        return error_response(
            request_id_of(request),
            422,
            "model_invalid",
            f"the new model cannot be loaded: {exc}; still serving {before}",
        )
    after = engine.model_version
    entry = AuditEntry(
        actor=key.log_id,
        action="model.reload",
        target="model",
        at=datetime.now(UTC),
        before={"version": before},
        after={"version": after},
    )
    await run_in_threadpool(state.ledger.append_audit, entry)
    state.metrics.set_model_version(after)
    return ModelsPublic(serving=_serving(engine))


def _serving(engine: DecisionEngine | None) -> ModelPublic | None:
    if engine is None:
        return None
    info = getattr(engine, "info", None)  # the model engine says more than the Protocol asks
    if info is None:
        return ModelPublic(version=engine.model_version)
    got = info()
    return ModelPublic(
        version=got.version,
        catalogue_version=got.catalogue_version,
        thresholds=dict(got.thresholds),
        loaded_at=got.loaded_at,
        source=got.source,
        features=got.features,
    )
