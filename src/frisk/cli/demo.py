"""``frisk demo``: the README's main command, end to end on the embedded defaults.

Simulates a labelled payment stream, trains a model on its first weeks, registers and promotes it,
and evaluates it on the weeks after, writing an HTML report. Everything goes under the Frisk home
directory (``FRISK_HOME``, default ``.frisk``).
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from frisk.cli.app import app
from frisk.config import load_settings


@app.command()
def demo(
    days: Annotated[int, typer.Option("--days", min=7, help="Days of payments to simulate.")] = 42,
    payers: Annotated[int, typer.Option("--payers", min=100, help="Simulated payers.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation and training.")] = 7,
    home: Annotated[
        Path | None, typer.Option("--home", help="Where data, models and reports go.")
    ] = None,
) -> None:
    """Simulate payments, train and register a model, evaluate it on later weeks."""
    from frisk.data import write_table
    from frisk.data.simulator import SimulationConfig, simulate
    from frisk.models import TrainConfig
    from frisk.models.evaluate import evaluate_artifact
    from frisk.models.pipeline import train_events
    from frisk.models.registry import Registry
    from frisk.models.report import write_report

    settings = load_settings(**({"home": home} if home is not None else {}))
    data_dir, reports = settings.data_dir, settings.home / "reports"
    reports.mkdir(parents=True, exist_ok=True)

    began = time.perf_counter()
    config = SimulationConfig(days=days, payers=payers, seed=seed)
    table = simulate(config)
    events = data_dir / "demo-events.parquet"
    write_table(table, events)
    frauds = int(table.get_column("label").sum())
    typer.echo(
        f"1/3 simulated {table.height:,} payments over {days} days, {frauds:,} fraudulent "
        f"({frauds / table.height:.2%}) -> {events}"
    )

    # Train on the first two thirds, evaluate on the rest: never shuffled across time.
    split = config.start + timedelta(days=days * 2 // 3)
    model = train_events(table, end=split, config=TrainConfig(seed=seed))
    registry = Registry(settings.registry_dir)
    version = registry.register(model)
    registry.promote(version)
    training = model.metadata["training"]
    typer.echo(
        f"2/3 trained {version} on {training['rows']:,} payments before {split:%Y-%m-%d} "
        f"({training['num_trees']} trees), promoted to production in {settings.registry_dir}"
    )

    result = evaluate_artifact(model, table, split, None, 0.005)
    report = write_report(result, reports / f"evaluation-{version}.html")
    typer.echo(f"3/3 evaluated on payments from {split:%Y-%m-%d} on -> {report}")
    for row in result.comparison():
        typer.echo(
            f"    {row['scorer']:<22} AUC {row['roc_auc']:.3f}  AP {row['average_precision']:.3f}"
            f"  recall@0.5% {row['recall']:.3f}  precision@0.5% {row['precision']:.3f}"
        )
    typer.echo(f"done in {time.perf_counter() - began:.1f}s")
