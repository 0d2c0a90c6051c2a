"""One worker process of ``frisk serve --workers N``: the app, built in the worker.

uvicorn's supervisor starts each worker by importing ``frisk.service.worker:app`` and calling it
(``factory=True``); a worker it finds dead is replaced the same way. The worker reads the same
settings as the supervisor (the environment and ``FRISK_CONFIG``) and what ``frisk serve`` was
given on its command line from ``OPTIONS_VARIABLE``, a JSON object the supervisor sets. Each
worker opens its own ledger connections and its own engine over the shared state store; both
are closed when its server stops.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from frisk.errors import ConfigError

__all__ = ["OPTIONS_VARIABLE", "WorkerOptions", "app"]

#: the environment variable the supervisor passes the command line's options in (not a setting)
OPTIONS_VARIABLE = "FRISK_WORKER_OPTIONS"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """What ``frisk serve`` was given beyond the settings: the model to serve."""

    model: str | None = None
    registry: str | None = None

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> WorkerOptions:
        raw = os.environ.get(OPTIONS_VARIABLE)
        if raw is None:
            return cls()
        try:
            values: dict[str, Any] = json.loads(raw)
            return cls(**values)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{OPTIONS_VARIABLE}={raw!r}: not the supervisor's options") from exc


def app() -> FastAPI:
    """The decision API of this worker (uvicorn calls it once per worker process)."""
    from frisk.config import load_settings
    from frisk.engine import load_engine
    from frisk.service.app import create_app
    from frisk.service.logs import configure_logging
    from frisk.store import default_url, open_ledger
    from frisk.store.postgres import timeouts_of

    configure_logging()
    settings = load_settings()
    options = WorkerOptions.from_env()
    model = Path(options.model) if options.model is not None else None
    registry = Path(options.registry) if options.registry is not None else None
    ledger = open_ledger(
        settings.database_url or default_url(settings.home), timeouts=timeouts_of(settings.store)
    )
    try:
        engine = load_engine(
            model,
            None if model is not None else registry or settings.registry_dir,
            ledger=ledger,
            settings=settings,
        )
    except BaseException:
        ledger.close()
        raise
    served = create_app(settings, engine, ledger=ledger)
    inner = served.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        try:
            async with inner(application) as state:
                yield state
        finally:
            engine.close()
            ledger.close()

    served.router.lifespan_context = lifespan
    return served
