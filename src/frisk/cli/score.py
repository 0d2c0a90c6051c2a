"""``frisk score``: score the events of a window with a trained model, in batch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from frisk.cli.app import app
from frisk.cli.options import (
    EndOpt,
    EventsOpt,
    MappingOpt,
    SkipInvalidOpt,
    StartOpt,
    parse_instant,
)
from frisk.errors import InputError


@app.command("score")
def score(
    events: EventsOpt,
    out: Annotated[
        Path,
        typer.Option("--out", help="Scored rows: .parquet, .csv or .jsonl.", show_default=False),
    ],
    model: Annotated[Path | None, typer.Option("--model", help="Model artifact directory.")] = None,
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="Use this registry's production model (no --model)."),
    ] = None,
    mapping: MappingOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    start: StartOpt = None,
    end: EndOpt = None,
    reasons: Annotated[
        int, typer.Option("--reasons", min=0, help="Top reasons per review/block row.")
    ] = 3,
    explain_all: Annotated[
        bool, typer.Option("--explain-all", help="Give reasons for every row (slow).")
    ] = False,
) -> None:
    """Score every event in [start, end); features see each event's full history."""
    from frisk.data.importer import load_events
    from frisk.models import load_model
    from frisk.models.pipeline import score_events
    from frisk.models.registry import Registry

    if model is not None and registry is None:
        loaded = load_model(model)
    elif registry is not None and model is None:
        loaded = Registry(registry).load()
    else:
        raise InputError("give exactly one of --model DIR or --registry DIR")
    table = load_events(events, mapping, skip_invalid)
    scored = score_events(
        loaded,
        table,
        start=parse_instant(start, "--start"),
        end=parse_instant(end, "--end"),
        reasons=reasons,
        explain_all=explain_all,
    )
    _write(scored, out)
    actions = scored.get_column("action").value_counts().sort("action").rows()
    shown = ", ".join(f"{name} {count:,}" for name, count in actions)
    typer.echo(f"scored {scored.height:,} events with model {loaded.version} -> {out} ({shown})")


def _write(frame: pl.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        frame.write_parquet(out)
    elif suffix == ".csv":
        frame.write_csv(out)
    elif suffix in (".jsonl", ".ndjson"):
        frame.write_ndjson(out)
    else:
        raise InputError(f"--out {str(out)!r}: expected a .parquet, .csv or .jsonl file")
