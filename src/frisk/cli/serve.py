"""``frisk serve``: the decision API under uvicorn."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from frisk.cli.app import app
from frisk.cli.workers import check_workers, run_workers
from frisk.config import Settings, load_settings
from frisk.errors import InputError

__all__ = ["serve"]


@app.command("serve")
def serve(
    model: Annotated[
        Path | None, typer.Option("--model", help="A model directory to serve.")
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="Serve the registry's current model (default: home)."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Default: service.host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: service.port.")] = None,
    warm_from: Annotated[
        Path | None,
        typer.Option(
            "--warm-from",
            help="A canonical events file (frisk simulate / frisk import) of the payments before "
            "this service's first decision: feature state learns them, and their labels at their "
            "arrival, when no snapshot exists yet. Later payments come from the ledger.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes (default: service.workers); more than 1 needs shared feature "
            "state (state.url).",
        ),
    ] = None,
) -> None:
    """Serve POST /v1/score and the rest of the API (OpenAPI at /docs)."""
    settings = load_settings()
    count = workers if workers is not None else settings.service.workers
    if count < 1:
        raise InputError(f"{_workers_source(workers, count)}: at least 1 worker")
    check_workers(settings, count, _workers_source(workers, count))
    if model is not None and registry is not None:
        raise InputError("give --model or --registry, not both")
    if count > 1:
        if warm_from is not None:
            raise InputError(
                "--warm-from with several workers: learn the history into the shared state "
                "first (frisk state rebuild --from-ledger), then serve"
            )
        run_workers(settings, count, model=model, registry=registry, host=host, port=port)
        return
    if settings.state.url.strip():
        # Shared state: nothing of this home is the process's own, so no lock (several
        # instances may serve from one home, e.g. one container image).
        _serve(settings, model, registry, host, port, warm_from)
        return
    from frisk.home_lock import HomeLock

    with HomeLock(settings.home):
        _serve(settings, model, registry, host, port, warm_from)


def _serve(
    settings: Settings,
    model: Path | None,
    registry: Path | None,
    host: str | None,
    port: int | None,
    warm_from: Path | None,
) -> None:

    import uvicorn

    from frisk.engine import load_engine
    from frisk.service.app import create_app
    from frisk.service.http_writes import GatheringHttpToolsProtocol
    from frisk.service.logs import configure_logging
    from frisk.store import default_url, open_ledger
    from frisk.store.postgres import timeouts_of

    configure_logging()
    # uvicorn re-raises the SIGTERM it shut down on; with the default handler that kills the
    # process before the last snapshot below. Exiting through SystemExit runs the finally blocks.
    signal.signal(signal.SIGTERM, _exit)
    # The engine warms feature state from the same ledger the app records in, so open it here.
    ledger = open_ledger(
        settings.database_url or default_url(settings.home), timeouts=timeouts_of(settings.store)
    )
    try:
        engine = load_engine(
            model,
            None if model is not None else registry or settings.registry_dir,
            ledger=ledger,
            settings=settings,
            history=warm_from,
        )
        try:
            uvicorn.run(
                create_app(settings, engine, ledger=ledger),
                host=host or settings.service.host,
                port=port or settings.service.port,
                workers=1,
                log_config=None,
                access_log=False,
                server_header=False,
                # The C HTTP parser (httptools), a response sent in one write; uvloop when
                # installed (both are dependencies).
                http=GatheringHttpToolsProtocol,
                loop="auto",
            )
        finally:
            engine.close()  # a last feature-state snapshot, so a restart replays little
    finally:
        ledger.close()


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _workers_source(option: int | None, count: int) -> str:
    """How the operator asked for ``count`` workers, in their own words."""
    if option is not None:
        return f"--workers {option}"
    if "FRISK_SERVICE__WORKERS" in os.environ:
        return f"FRISK_SERVICE__WORKERS={os.environ['FRISK_SERVICE__WORKERS']}"
    return f"service.workers = {count}"
