"""``frisk features``: compute the feature table of an event file."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from frisk.cli.app import app
from frisk.cli.options import EventsOpt, MappingOpt, SkipInvalidOpt
from frisk.cli.state import ClusterOpt, PrefixOpt, StateOpt, state_settings

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
    state: StateOpt = None,
    prefix: PrefixOpt = None,
    cluster: ClusterOpt = False,
) -> None:
    """Compute every feature of every event, point in time, and write them as Parquet.

    With ``--engine online --state redis://...`` the events go through a Redis state store (under
    the key prefix, which must be empty or hold state of this catalogue), so that online ==
    offline can be checked at scale on any data set.
    """
    from frisk.data.importer import load_events
    from frisk.errors import ConfigError
    from frisk.features import OnlineFeatures, compute_offline, resolve_catalogue
    from frisk.features.stores import open_store

    if state and engine is Engine.OFFLINE:
        raise ConfigError("--state is for --engine online (the offline executor keeps no state)")
    began = time.perf_counter()
    table = load_events(events, mapping, skip_invalid)
    resolved = resolve_catalogue(catalogue, table)
    computing = time.perf_counter()
    if engine is Engine.OFFLINE:
        frame = compute_offline(table, resolved)
    else:
        settings = state_settings(state, prefix, cluster)
        online = OnlineFeatures(resolved, open_store(settings))
        if settings.url and online.store.clock is not None:
            raise ConfigError(
                f"the state at {settings.url} under {settings.key_prefix!r} already holds events "
                f"(up to {online.store.clock} µs): give an empty --prefix, or frisk state rebuild"
            )
        frame = online.replay(table)
    rate = table.height / max(time.perf_counter() - computing, 1e-9)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out, compression="zstd")
    elapsed = time.perf_counter() - began
    where = f", state {state}" if state else ""  # (FRISK_STATE__URL applies too)
    typer.echo(
        f"{out}: {frame.height} events x {len(resolved.names)} features "
        f"(catalogue {resolved.name} {resolved.version}, {engine.value}{where}, {elapsed:.1f} s, "
        f"{rate:,.0f} events/s)"
    )
