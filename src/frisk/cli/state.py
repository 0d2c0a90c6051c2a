"""``frisk state info|rebuild``: the shared feature state (Redis), and its options elsewhere."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from frisk.cli.app import app
from frisk.cli.options import MappingOpt, SkipInvalidOpt
from frisk.config import StateSettings, load_settings
from frisk.errors import ConfigError

__all__ = ["ClusterOpt", "PrefixOpt", "StateOpt", "state_app", "state_settings"]

StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="Feature state URL, redis://host:6379/0 or rediss://... (default FRISK_STATE__URL).",
        show_default=False,
    ),
]
PrefixOpt = Annotated[
    str | None,
    typer.Option(
        "--prefix", help="Key prefix in Redis (default FRISK_STATE__KEY_PREFIX, else 'frisk')."
    ),
]
ClusterOpt = Annotated[bool, typer.Option("--cluster", help="The URL names a Redis Cluster node.")]

state_app = typer.Typer(help="Shared feature state (Redis).", no_args_is_help=True)
app.add_typer(state_app, name="state")


def state_settings(url: str | None, prefix: str | None, cluster: bool) -> StateSettings:
    """The ``state`` settings with the command line's choices over them."""
    settings = load_settings().state.model_dump()
    for name, value in (("url", url), ("key_prefix", prefix)):
        if value is not None:
            settings[name] = value
    settings["cluster"] = cluster or settings["cluster"]
    try:
        return StateSettings.model_validate(settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"state {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


def _redis(url: str | None, prefix: str | None, cluster: bool) -> object:
    from frisk.features.stores import open_store
    from frisk.features.stores.redis import RedisStore

    settings = state_settings(url, prefix, cluster)
    if not settings.url:
        raise ConfigError("name the Redis with --state redis://... or FRISK_STATE__URL")
    store = open_store(settings)
    assert isinstance(store, RedisStore)
    return store


@state_app.command("info")
def info_command(
    state: StateOpt = None, prefix: PrefixOpt = None, cluster: ClusterOpt = False
) -> None:
    """What the state under a key prefix holds: format, catalogue, clock, keys, memory."""
    from frisk.features.stores.redis import RedisStore

    store = _redis(state, prefix, cluster)
    assert isinstance(store, RedisStore)
    info = store.info()
    store.close()
    for name, value in info.items():
        typer.echo(f"{name}: {value}")


@state_app.command("rebuild")
def rebuild_command(
    events: Annotated[
        Path | None,
        typer.Option("--events", help="Canonical events file (CSV, JSONL, Parquet) to learn."),
    ] = None,
    mapping: MappingOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    catalogue: Annotated[
        str, typer.Option("--catalogue", help="With --events: 'default' or a catalogue TOML file.")
    ] = "default",
    from_ledger: Annotated[
        bool,
        typer.Option(
            "--from-ledger", help="Learn the ledger's decisions and labels (FRISK_DATABASE_URL)."
        ),
    ] = False,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="With --from-ledger: the served model (its catalogue)."),
    ] = None,
    state: StateOpt = None,
    prefix: PrefixOpt = None,
    cluster: ClusterOpt = False,
) -> None:
    """Delete the state under the key prefix, then learn an events file (labels at their arrival
    times) or the ledger into it: after a Redis loss, the state the live service had built."""
    from frisk.features import Catalogue, OnlineFeatures, resolve_catalogue
    from frisk.features.stores.redis import RedisStore

    if (events is None) == (not from_ledger):
        raise ConfigError("give either --events FILE or --from-ledger (with --model DIR)")
    resolved: Catalogue
    if from_ledger:
        from frisk.models import load_model
        from frisk.models.pipeline import model_catalogue

        if model is None:
            raise ConfigError("--from-ledger needs --model DIR: the catalogue the service reads")
        resolved = model_catalogue(load_model(model))
    else:
        from frisk.data.importer import load_events

        assert events is not None
        table = load_events(events, mapping, skip_invalid)
        resolved = resolve_catalogue(catalogue, table)
    store = _redis(state, prefix, cluster)
    assert isinstance(store, RedisStore)
    dropped = store.clear()
    began = time.perf_counter()
    online = OnlineFeatures(resolved, store)
    if from_ledger:
        from frisk.engine.warmup import warm_from_ledger
        from frisk.store import default_url, open_ledger

        settings = load_settings()
        ledger = open_ledger(settings.database_url or default_url(settings.home))
        try:
            learnt, _ = warm_from_ledger(
                online, ledger, None, ahead=settings.api.event_window().ahead
            )
        finally:
            ledger.close()
    else:
        online.warm(table, freeze_gc=False)
        learnt = table.height
    elapsed = time.perf_counter() - began
    store.close()
    typer.echo(
        f"rebuilt state under {store.prefix!r}: {dropped} old keys deleted, {learnt} events "
        f"learnt in {elapsed:.1f} s ({learnt / max(elapsed, 1e-9):,.0f} events/s), "
        f"catalogue {resolved.name} {resolved.version}"
    )
