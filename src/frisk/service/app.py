"""The app factory: ``create_app(settings, engine)`` builds one self-contained FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from frisk import __version__
from frisk.config import Settings
from frisk.engine import DecisionEngine
from frisk.engine.runtime import build_decider
from frisk.monitoring.partitions import PartitionJob
from frisk.monitoring.retention import RetentionJob
from frisk.service.auth import KeyCache
from frisk.service.deps import ServiceState
from frisk.service.docs import install_docs
from frisk.service.errors import install_error_handlers
from frisk.service.gc_pauses import GcPauses
from frisk.service.metrics import ServiceMetrics, multiprocess_dir
from frisk.service.middleware import BodyLimitMiddleware, RequestContextMiddleware
from frisk.service.monitor import ModelOps
from frisk.service.ratelimit import Limiter, RateLimiter
from frisk.service.routes import (
    audit,
    decisions,
    keys,
    labels,
    lists,
    models,
    monitoring,
    ops,
    reviews,
    rules,
    score,
    uploads,
)
from frisk.service.scoring import Scorer
from frisk.service.stats import LiveStats
from frisk.service.worker_stats import WorkerStatsWriter
from frisk.store import Ledger, default_url, open_ledger

if TYPE_CHECKING:
    from frisk.store.postgres import StoreTimeouts

__all__ = ["create_app"]


def create_app(
    settings: Settings,
    engine: DecisionEngine | None = None,
    *,
    ledger: Ledger | None = None,
) -> FastAPI:
    """An app deciding with ``engine`` and recording in ``ledger``.

    Without a ledger, the one ``settings`` names is opened and migrated here, so a bad database
    fails at start-up rather than on the first payment. Without an engine the app serves
    everything but scoring, which answers 503 (and /ready says why).
    """
    owns_ledger = ledger is None
    if ledger is None:
        ledger = open_ledger(
            settings.database_url or default_url(settings.home),
            timeouts=_timeouts(settings),
        )
    metrics = ServiceMetrics()
    stats = LiveStats(settings.api.latency_window)
    # The decider the routes share, recording through a group commit (one fsync for many
    # concurrent decisions, see engine.recorder), with the ledger's rules and lists attached to
    # the engine: they decide after the model (engine.runtime, shared with `frisk consume`).
    runtime = build_decider(
        settings,
        ledger,
        engine,
        lambda ledger, engine, **parts: Scorer(ledger, engine, metrics, stats, **parts),
        registry=metrics.registry,
        on_commit=metrics.observe_commit,
    )
    policy = runtime.policy
    limits = settings.security.rate_limit
    state = ServiceState(
        settings=settings,
        ledger=ledger,
        decision_engine=engine,
        metrics=metrics,
        stats=stats,
        limiter=_limiter(settings) if limits.enabled else None,
        keys=KeyCache(ledger, settings.security.key_cache_seconds),
        scorer=runtime.decider,
    )
    metrics.set_model_version(engine.model_version if engine is not None else None)
    # Promotions, rollbacks and the shadow model without a restart; live figures and drift.
    model_ops = ModelOps(settings, ledger, engine, metrics).start()
    # Decisions past ledger.retention_days into the archive, on a schedule (off by default).
    retention = RetentionJob(ledger, settings.ledger, settings.archive_dir)
    # PostgreSQL: the coming days' partitions of decisions, however long the service runs.
    partitions = PartitionJob(ledger, settings.ledger)
    gc_pauses = GcPauses(
        freeze=settings.service.gc_freeze,
        young_threshold=settings.service.gc_young_threshold,
        shared=metrics.multiprocess,
    )
    # Under several workers, this one's figures where the others' /v1/stats read them.
    figures_dir = multiprocess_dir()
    figures = (
        None
        if figures_dir is None
        else WorkerStatsWriter(Path(figures_dir), stats, lambda: policy.live.hits)
    )
    metrics.registry.register(gc_pauses)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gc_pauses.install()  # process-wide, so only while this app serves
        runtime.start()  # follows changes other processes make to the ledger's policy
        retention.start()
        partitions.start()
        if figures is not None:
            figures.start()
        try:
            yield
        finally:
            if figures is not None:
                figures.close()
            gc_pauses.remove()
            retention.close()
            partitions.close()
            model_ops.close()
            runtime.close()
            close_limiter = getattr(state.limiter, "close", None)
            if close_limiter is not None:
                close_limiter()
            if owns_ledger:
                state.ledger.close()

    app = _FriskApi(
        title="Frisk",
        version=__version__,
        summary="Real-time payment fraud decisions.",
        lifespan=lifespan,
        # Frisk exports its own Prometheus metrics and logs. FastAPI's OpenTelemetry hooks would
        # look for a configured provider on every request (~11 µs each, measured).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Served from local files by install_docs: FastAPI's pages fetch theirs from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.frisk = state
    app.state.metrics = metrics
    app.state.policy = policy
    app.state.model_ops = model_ops
    install_error_handlers(app)
    install_docs(app)
    modules = (
        score,
        decisions,
        labels,
        reviews,
        models,
        monitoring,
        ops,
        uploads,
        rules,
        lists,
        audit,
        keys,
    )
    for module in modules:
        app.include_router(module.router)
    # Innermost of the middleware, so all of it (context, CORS, body limit) still applies.
    app.add_middleware(
        score.ScoreLane, route=_score_route(), exception_handlers=app.exception_handlers
    )
    # An upload is tens of megabytes, streamed to disk and refused past api.upload_max_bytes: the
    # general limit would refuse it, or buffer a chunked one in memory.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.security.max_body_bytes, exempt={"/v1/uploads"}
    )
    cors = settings.security.cors
    if cors.allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors.allow_origins,
            allow_methods=cors.allow_methods,
            allow_headers=cors.allow_headers,
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    # Added last, so outermost: it sees every response, CORS refusals and 413s included.
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


class _FriskApi(FastAPI):
    """FastAPI with ``POST /v1/score`` entering the app's own middleware first
    (``routes.score.ScoreFirst``)."""

    def build_middleware_stack(self) -> ASGIApp:
        return score.ScoreFirst(super().build_middleware_stack(), self.user_middleware)


def _score_route() -> APIRoute:
    # The router's own route: the app includes the router without a prefix or dependencies.
    for route in score.router.routes:
        if isinstance(route, score.ScoreRoute) and "POST" in (route.methods or ()):
            return route
    raise RuntimeError("the scoring router has no POST /v1/score route")


def _limiter(settings: Settings) -> Limiter:
    """Buckets in Redis when feature state is there (shared by every process), else here."""
    limits = settings.security.rate_limit
    if not settings.state.url.strip():
        return RateLimiter(limits.per_second, limits.burst)
    from frisk.service.redis_ratelimit import open_limiter  # redis: only when configured

    return open_limiter(settings.state, limits)


def _timeouts(settings: Settings) -> StoreTimeouts:
    from frisk.store.postgres import timeouts_of  # psycopg: only for a ledger that is opened here

    return timeouts_of(settings.store)
