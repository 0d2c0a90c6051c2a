"""Which model decides, and changing it: list, reload, promote, roll back, shadow, reports.

GET /v1/models and GET /v1/models/{version}/report need an analyst key; everything that changes
what serves needs an admin key and is audited. A model that fails to load leaves the serving model
serving: 422 when the artifact is broken, 409 when it cannot be swapped in (another feature
catalogue, a service that serves a directory rather than a registry), 404 for an unknown version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from frisk.engine import DecisionEngine
from frisk.errors import ArtifactError, ModelError, NotFoundError
from frisk.service.auth import AdminKey, AnalystKey
from frisk.service.deps import StateDep
from frisk.service.errors import NotReadyError, error_response, request_id_of
from frisk.service.monitor import ModelOps
from frisk.service.routes.monitoring import OpsDep
from frisk.service.schemas import (
    ErrorPublic,
    ModelPublic,
    ModelsPublic,
    ModelVersionPublic,
    PromotePublic,
    ShadowCreate,
)
from frisk.store.ledger import AuditEntry

router = APIRouter(prefix="/v1", tags=["models"])

_CHANGES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 409, 422, 503)
}


@router.get("/models", response_model=ModelsPublic, responses={401: {"model": ErrorPublic}})
async def models(state: StateDep, ops: OpsDep, _key: AnalystKey) -> ModelsPublic:
    """The model deciding now, the one in shadow, and every registered version with its stage."""
    return await run_in_threadpool(_models, state.decision_engine, ops)


@router.post("/models/reload", response_model=ModelsPublic, responses=_CHANGES)
async def reload(
    request: Request, state: StateDep, ops: OpsDep, key: AdminKey
) -> ModelsPublic | JSONResponse:
    """Load the current model (the registry's production version) and swap it in.

    422 when it fails to load, 409 when it reads another feature catalogue; either way the model
    that was serving keeps serving.
    """
    engine = state.decision_engine
    if engine is None:
        raise NotReadyError("no decision engine is loaded")
    before = engine.model_version
    failed = await _attempt(request, before, ops.reload)
    if failed is not None:
        return failed
    await _audit(state, key.log_id, "model.reload", before, engine.model_version)
    return await run_in_threadpool(_models, engine, ops)


@router.post("/models/promote", response_model=ModelsPublic, responses=_CHANGES)
async def promote(
    request: Request, body: PromotePublic, state: StateDep, ops: OpsDep, key: AdminKey
) -> ModelsPublic | JSONResponse:
    """Put a registered version in production and serve it now (the registry pointer moves too).

    The version is loaded and checked before the pointer moves; if it cannot be served the pointer
    is put back and the serving model keeps serving.
    """
    before = state.decision_engine.model_version if state.decision_engine is not None else "none"
    failed = await _attempt(request, before, lambda: ops.promote(body.version))
    if failed is not None:
        return failed
    after = state.decision_engine.model_version if state.decision_engine is not None else "none"
    await _audit(state, key.log_id, "model.promote", before, after)
    return await run_in_threadpool(_models, state.decision_engine, ops)


@router.post("/models/rollback", response_model=ModelsPublic, responses=_CHANGES)
async def rollback(
    request: Request, state: StateDep, ops: OpsDep, key: AdminKey
) -> ModelsPublic | JSONResponse:
    """Return production to the version promoted before the current one, and serve it now."""
    before = state.decision_engine.model_version if state.decision_engine is not None else "none"
    failed = await _attempt(request, before, ops.rollback)
    if failed is not None:
        return failed
    after = state.decision_engine.model_version if state.decision_engine is not None else "none"
    await _audit(state, key.log_id, "model.rollback", before, after)
    return await run_in_threadpool(_models, state.decision_engine, ops)


@router.post("/models/shadow", response_model=ModelsPublic, responses=_CHANGES)
async def shadow(
    request: Request, body: ShadowCreate, state: StateDep, ops: OpsDep, key: AdminKey
) -> ModelsPublic | JSONResponse:
    """Score a registered version in shadow (``null`` stops): it sees every new decision's
    feature vector, its decisions go to the ledger's shadow_decisions, never to the client.
    """
    before = ops.shadow_version()
    serving = state.decision_engine.model_version if state.decision_engine is not None else "none"
    failed = await _attempt(request, serving, lambda: ops.set_shadow(body.version))
    if failed is not None:
        return failed
    entry = AuditEntry(
        actor=key.log_id,
        action="model.shadow",
        target="model",
        at=datetime.now(UTC),
        before={"shadow": before},
        after={"shadow": ops.shadow_version()},
    )
    await run_in_threadpool(state.ledger.append_audit, entry)
    return await run_in_threadpool(_models, state.decision_engine, ops)


@router.get(
    "/models/{version}/report",
    response_class=HTMLResponse,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 404, 409)},
)
async def report(version: str, ops: OpsDep, _key: AnalystKey) -> HTMLResponse:
    """The stored HTML evaluation report of a registered version (``frisk retrain`` writes one)."""
    registry = ops.require_registry()
    path = await run_in_threadpool(registry.report_path, version)
    if path is None:
        raise NotFoundError(f"model version {version!r} has no stored report")
    return HTMLResponse(await run_in_threadpool(path.read_text, "utf-8"))


# -- helpers ------------------------------------------------------------------------------------


async def _attempt(
    request: Request, serving: str, action: Callable[[], Any]
) -> JSONResponse | None:
    """Run a model change in a thread; a model that cannot be loaded becomes a 422 body."""
    try:
        await run_in_threadpool(action)
    except (ModelError, ArtifactError) as exc:  # a missing, corrupt or mismatched artifact
        return error_response(
            request_id_of(request),
            422,
            "model_invalid",
            f"the model cannot be loaded: {exc}; still serving {serving}",
        )
    return None


async def _audit(state: Any, actor: str, action: str, before: str, after: str) -> None:
    entry = AuditEntry(
        actor=actor,
        action=action,
        target="model",
        at=datetime.now(UTC),
        before={"version": before},
        after={"version": after},
    )
    await run_in_threadpool(state.ledger.append_audit, entry)


def _models(engine: DecisionEngine | None, ops: ModelOps) -> ModelsPublic:
    shadow = ops.shadow
    return ModelsPublic(
        serving=_serving(engine),
        shadow=None
        if shadow is None
        else ModelPublic(
            version=shadow.version,
            catalogue_version=(shadow.model.catalogue or {}).get("version"),
            thresholds=shadow.model.thresholds.to_dict(),
            loaded_at=shadow.loaded_at,
            source="registry (shadow)",
            features=len(shadow.model.feature_names),
        ),
        shadow_error=ops.shadow_error,
        reload_error=None if ops.watcher is None else ops.watcher.last_error,
        versions=_versions(ops),
    )


def _versions(ops: ModelOps) -> list[ModelVersionPublic]:
    registry = ops.registry
    if registry is None:
        return []
    shadow = ops.shadow_version()
    out = []
    for version, stage in registry.stages().items():
        try:
            metadata = registry.metadata(version)
        except ArtifactError:
            metadata = {}
        training = metadata.get("training") or {}
        out.append(
            ModelVersionPublic(
                version=version,
                stage="shadow" if version == shadow else stage,
                created_at=metadata.get("registered_at") or metadata.get("created_at"),
                training={
                    k: training.get(k) for k in ("start", "end", "rows", "frauds", "labels_as_of")
                },
                metrics=(metadata.get("metrics") or {}).get("validation") or {},
                report=registry.report_path(version) is not None,
            )
        )
    return out


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
