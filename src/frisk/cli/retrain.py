"""``frisk retrain``: a challenger from history and the ledger's labels, promoted past a margin."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
import typer

from frisk.cli.app import app
from frisk.cli.options import SkipInvalidOpt, parse_instant
from frisk.errors import InputError, NotFoundError

__all__ = ["retrain_command"]


@app.command("retrain")
def retrain_command(
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="History file (CSV, Parquet, JSON Lines); its own labels "
            "count only where they arrived before the cut-off.",
        ),
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="Column mapping of --events (TOML).")
    ] = None,
    skip_invalid: SkipInvalidOpt = False,
    ledger: Annotated[
        bool,
        typer.Option(
            "--ledger/--no-ledger",
            help="Add the transactions and labels the ledger (settings.database_url) recorded.",
        ),
    ] = True,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help="Add the transactions and labels archived there (frisk ledger archive).",
        ),
    ] = None,
    registry: Annotated[
        Path | None, typer.Option("--registry", help="Registry (default: FRISK_HOME/models).")
    ] = None,
    cutoff: Annotated[
        str | None,
        typer.Option(
            "--cutoff",
            help="Labels known before this instant count; default: just "
            "after the newest transaction in the history.",
        ),
    ] = None,
    eval_days: Annotated[
        float | None,
        typer.Option(
            "--eval-days",
            help="Evaluate on the last days before the cut-off "
            "(default: monitoring.retrain_eval_days).",
        ),
    ] = None,
    train_start: Annotated[
        str | None, typer.Option("--train-start", help="First instant to train on.")
    ] = None,
    metric: Annotated[
        Literal["average_precision", "recall", "amount_recall"] | None,
        typer.Option("--metric", help="What the challenger must beat the champion on."),
    ] = None,
    margin: Annotated[
        float | None,
        typer.Option("--margin", min=0, help="By more than this (monitoring.retrain_margin)."),
    ] = None,
    promote: Annotated[
        Literal["auto", "never", "force"],
        typer.Option("--promote", help="auto: only past the margin; never; force."),
    ] = "auto",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the comparison and decision as JSON.")
    ] = None,
) -> None:
    """Train a challenger, evaluate it and the production model on the latest labelled period,
    register it, and promote it if it is better by the margin."""
    from frisk.cli.evaluate import format_comparison
    from frisk.config import load_settings
    from frisk.models.registry import Registry
    from frisk.models.report import render_report
    from frisk.monitoring.retrain import ledger_history, point_in_time_labels, retrain

    settings = load_settings()
    cfg = settings.monitoring
    if events is None and not ledger and archive is None:
        raise InputError("nothing to learn from: give --events or --archive, or keep --ledger")
    store = Registry(registry if registry is not None else settings.registry_dir)
    opened = None
    frames: list[pl.DataFrame] = []
    if events is not None:
        from frisk.data.importer import load_events

        frames.append(load_events(events, mapping, skip_invalid))
    if ledger:
        from frisk.store import default_url, open_ledger

        opened = open_ledger(settings.database_url or default_url(settings.home))
        frames.append(ledger_history(opened, archive=archive))
    elif archive is not None:
        frames.append(ledger_history(None, archive=archive))
    table = _union(frames)
    if table.height == 0:
        raise InputError("the history is empty: no events and no recorded transactions")
    last = table.get_column("timestamp").max()
    assert isinstance(last, datetime)
    moment = parse_instant(cutoff, "--cutoff") or last.astimezone(UTC) + timedelta(microseconds=1)
    try:
        champion = store.load(num_threads=1)
    except NotFoundError:
        champion = None
    result = retrain(
        point_in_time_labels(table, opened, moment, archive),
        champion,
        cutoff=moment,
        eval_days=eval_days if eval_days is not None else cfg.retrain_eval_days,
        train_start=parse_instant(train_start, "--train-start"),
        metric=metric or cfg.retrain_metric,
        margin=margin if margin is not None else cfg.retrain_margin,
        mode=promote,
    )
    typer.echo(format_comparison(result.comparison))
    version = store.register(result.challenger)
    report = store.save_report(
        version, render_report(result.comparison, title=f"Frisk retrain: {version}")
    )
    typer.echo(f"challenger registered as {version} (report {report})")
    typer.echo(f"decision: {result.reason}")
    if result.promote:
        store.promote(version)
        typer.echo(f"{version} is now in production (was {result.champion_version or 'none'})")
    else:
        typer.echo(f"{result.champion_version or 'nothing'} stays in production")
    if json_out is not None:
        body = {**result.to_dict(), "challenger": version, "promoted": result.promote}
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(body, indent=2, default=_jsonable) + "\n")


def _union(frames: list[pl.DataFrame]) -> pl.DataFrame:
    from frisk.data.table import conform

    tables = [f for f in frames if f.height]
    if not tables:
        return pl.DataFrame({"timestamp": []})
    # A file row wins over the ledger's row for the same id (it may carry labels).
    merged = pl.concat(tables, how="diagonal_relaxed").unique("transaction_id", keep="first")
    return conform(merged)


def _jsonable(value: object) -> object:
    if isinstance(value, float) and value != value:
        return None
    return str(value)
