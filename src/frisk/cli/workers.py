"""``frisk serve --workers N``: N worker processes under uvicorn's supervisor.

Only a service whose feature state is shared (``state.url``: Redis) can run several: with the
in-process state each worker would learn a share of each payer's payments. The supervisor warms
an empty shared state from the ledger once, before any worker starts (N workers warming it at
once would race), sets ``PROMETHEUS_MULTIPROC_DIR`` to a directory of its own so that
``/metrics`` from any worker reports the group's totals, then starts the workers; uvicorn
replaces a worker that dies. The directory is removed when the supervisor stops.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from frisk.config import Settings
from frisk.errors import ConfigError

__all__ = ["MULTIPROC_VARIABLE", "check_workers", "run_workers"]

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def check_workers(settings: Settings, count: int, given: str) -> None:
    """Refuse ``count`` > 1 workers unless feature state is shared; ``given`` is how the
    operator asked for them (``--workers 3``, ``FRISK_SERVICE__WORKERS=3``)."""
    if count > 1 and not settings.state.url.strip():
        raise ConfigError(
            f"{given}: several workers need feature state shared between them; with the "
            "in-process state (state.url empty) each would learn a share of each payer's "
            "history. Set state.url (FRISK_STATE__URL=redis://host:6379/0) or serve 1 worker"
        )


def run_workers(
    settings: Settings,
    count: int,
    *,
    model: Path | None,
    registry: Path | None,
    host: str | None,
    port: int | None,
) -> None:
    """Warm the shared state if empty, then serve ``count`` workers until stopped."""
    import uvicorn

    from frisk.service.http_writes import GatheringHttpToolsProtocol
    from frisk.service.logs import configure_logging
    from frisk.service.worker import OPTIONS_VARIABLE, WorkerOptions

    configure_logging()
    _warm_shared_state(settings, model, registry)
    options = WorkerOptions(
        model=None if model is None else str(model.resolve()),
        registry=None if registry is None else str(registry.resolve()),
    )
    metrics_dir = os.environ.get(MULTIPROC_VARIABLE)
    owned = None
    if not metrics_dir:
        owned = metrics_dir = tempfile.mkdtemp(prefix="frisk-metrics-")
    os.environ[MULTIPROC_VARIABLE] = metrics_dir
    os.environ[OPTIONS_VARIABLE] = options.to_env()
    try:
        uvicorn.run(
            "frisk.service.worker:app",
            factory=True,
            host=host or settings.service.host,
            port=port or settings.service.port,
            workers=count,
            log_config=None,
            access_log=False,
            server_header=False,
            http=GatheringHttpToolsProtocol,  # a response in one write, as in one process
            loop="auto",
        )
    finally:
        os.environ.pop(OPTIONS_VARIABLE, None)
        if owned is not None:
            os.environ.pop(MULTIPROC_VARIABLE, None)
            shutil.rmtree(owned, ignore_errors=True)


def _warm_shared_state(settings: Settings, model: Path | None, registry: Path | None) -> None:
    """Learn the ledger into an empty shared state here, once (``load_engine`` does it)."""
    from frisk.engine import load_engine
    from frisk.store import default_url, open_ledger
    from frisk.store.postgres import timeouts_of

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
        engine.close()
    finally:
        ledger.close()
