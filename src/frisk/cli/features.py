"""``frisk features``: compute the feature table of an event file."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from frisk.cli.app import app
from frisk.cli.options import EventsOpt, MappingOpt, SkipInvalidOpt

__all__ = ["features_command"]


class Engine(StrEnum):
    OFFLINE = "offline"
    ONLINE = "online"


@app.command("features")
def features_command(
    events: EventsOpt,
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.", show_default=False)],
    mapping: MappingOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    engine: Annotated[
        Engine, typer.Option("--engine", help="offline (vectorised) or online (event by event).")
    ] = Engine.OFFLINE,
    catalogue: Annotated[
        str, typer.Option("--catalogue", help="'default' or a catalogue TOML file.")
    ] = "default",
) -> None:
    """Compute every feature of every event, point in time, and write them as Parquet."""
    from frisk.data.importer import load_events
    from frisk.features import OnlineFeatures, compute_offline, resolve_catalogue

    began = time.perf_counter()
    table = load_events(events, mapping, skip_invalid)
    resolved = resolve_catalogue(catalogue, table)
    if engine is Engine.OFFLINE:
        frame = compute_offline(table, resolved)
    else:
        frame = OnlineFeatures(resolved).replay(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out, compression="zstd")
    elapsed = time.perf_counter() - began
    typer.echo(
        f"{out}: {frame.height} events x {len(resolved.names)} features "
        f"(catalogue {resolved.name} {resolved.version}, {engine.value}, {elapsed:.1f} s)"
    )
