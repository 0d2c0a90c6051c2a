"""``frisk simulate``: write a labelled, simulated payment table."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from frisk.cli.app import app
from frisk.cli.options import parse_instant
from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import write_table
from frisk.errors import InputError

__all__ = ["simulate_command", "summary"]


@app.command("simulate")
def simulate_command(
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.", show_default=False)],
    days: Annotated[int, typer.Option("--days", help="Days to simulate.")] = 30,
    payers: Annotated[int, typer.Option("--payers", help="Number of payers.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same file.")] = 7,
    fraud_rate: Annotated[
        float, typer.Option("--fraud-rate", help="Share of transactions that are fraud.")
    ] = 0.007,
    start: Annotated[
        str | None, typer.Option("--start", help="First day (e.g. 2024-01-01); UTC.")
    ] = None,
    drift_at: Annotated[
        int | None,
        typer.Option("--drift-at", help="Day from which fraud and some legit habits change."),
    ] = None,
    currencies: Annotated[
        str, typer.Option("--currencies", help="Payers' home currencies, e.g. EUR,USD,GBP.")
    ] = "EUR",
) -> None:
    """Simulate payments with labelled fraud scenarios and write them as a canonical table."""
    began = time.perf_counter()
    first = parse_instant(start, "--start")
    codes = tuple(c.strip().upper() for c in currencies.split(",") if c.strip())
    if not codes:
        raise InputError(f"--currencies {currencies!r}: name at least one currency")
    config = SimulationConfig(
        days=days,
        payers=payers,
        seed=seed,
        fraud_rate=fraud_rate,
        drift_at=drift_at,
        currencies=codes,
    )
    if first is not None:
        config = replace(config, start=first)
    table = simulate(config)
    write_table(table, out)
    typer.echo(summary(table, out, time.perf_counter() - began))


def summary(table: pl.DataFrame, out: Path, seconds: float) -> str:
    """One paragraph: rows, fraud rate, rows per scenario, labelled share, time range, time."""
    frauds = table.filter(pl.col("label") == 1)
    per_scenario = frauds.group_by("scenario").len().sort("scenario")
    scenarios = ", ".join(f"{name!s} {count}" for name, count in per_scenario.iter_rows())
    labelled = frauds.get_column("label_timestamp").is_not_null().sum()
    share = labelled / frauds.height if frauds.height else 0.0
    rate = frauds.height / table.height if table.height else 0.0
    times = table.get_column("timestamp")
    span = f"{times.min()!s} to {times.max()!s}" if table.height else "no time range"
    return (
        f"Wrote {table.height:,} transactions to {out}: {frauds.height:,} frauds "
        f"({rate:.2%}) by scenario: {scenarios or 'none'}; {share:.0%} of frauds labelled; "
        f"{span}; {seconds:.1f} s."
    )
