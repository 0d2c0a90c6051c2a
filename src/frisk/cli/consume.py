"""``frisk consume``: decide payments (and record labels) from NATS JetStream or Redis Streams."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from frisk.cli.app import app
from frisk.config import load_settings
from frisk.errors import InputError

__all__ = ["consume"]


@app.command("consume")
def consume(
    broker: Annotated[
        str | None,
        typer.Option("--broker", help="redis://HOST:PORT/DB or nats://HOST:PORT."),
    ] = None,
    input_: Annotated[
        str | None, typer.Option("--input", help="The payments' stream (Redis) or subject (NATS).")
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", help="Where each decision is published.")
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Consumer group (default: consumer.group).")
    ] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", help="A label feed (chargebacks, verdicts).")
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", help="The import's TOML column mapping, for producers' shapes."),
    ] = None,
    dead_letters: Annotated[
        str | None,
        typer.Option("--dead-letters", help="Refused messages, with why (default: INPUT.dead)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="This member's name (default: HOST-PID).")
    ] = None,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, help="Messages decided per commit.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="A model directory to decide with.")
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry", help="Decide with the registry's production model, following promotions."
        ),
    ] = None,
) -> None:
    """Decide every payment of a stream exactly once, as POST /v1/score would."""
    if model is not None and registry is not None:
        raise InputError("give --model or --registry, not both")
    given: dict[str, Any] = {
        "broker": broker,
        "input": input_,
        "output": output,
        "group": group,
        "labels": labels,
        "mapping": mapping,
        "dead_letters": dead_letters,
        "name": name,
        "batch": batch,
    }
    settings = load_settings()
    overrides = {k: v for k, v in given.items() if v is not None}
    if overrides:
        settings = settings.model_copy(
            update={"consumer": settings.consumer.model_copy(update=overrides)}
        )
    if settings.consumer.mapping is not None and not settings.consumer.mapping.is_file():
        raise InputError(f"--mapping {str(settings.consumer.mapping)!r}: no such file")
    from frisk.home_lock import HomeLock
    from frisk.service.logs import configure_logging
    from frisk.streams import consume as run

    configure_logging()
    with HomeLock(settings.home):
        run(settings, model, registry)
