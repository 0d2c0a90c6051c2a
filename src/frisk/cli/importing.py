"""``frisk import``: read an event file through a mapping and write the canonical table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from frisk.cli.app import app
from frisk.cli.options import EventsOpt, MappingOpt, SkipInvalidOpt
from frisk.data.importer import ImportReport, read_events
from frisk.data.mapping import Mapping
from frisk.data.table import write_table

OutOpt = Annotated[
    Path,
    typer.Option("--out", help="Where to write the canonical table (Parquet).", show_default=False),
]


@app.command("import")
def import_events(
    events: EventsOpt,
    out: OutOpt,
    mapping: MappingOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    """Import an event file (CSV, Parquet, JSON Lines) into a canonical Parquet table."""
    loaded = Mapping.load(mapping) if mapping is not None else None
    result = read_events(events, loaded, skip_invalid=skip_invalid)
    write_table(result.table, out)
    for line in summary(result.table, result.report, out):
        typer.echo(line)


def summary(table: pl.DataFrame, report: ImportReport, out: Path) -> list[str]:
    """A few lines saying what was imported, and what was not."""
    lines = [f"imported {report.rows_kept:,} of {report.rows_read:,} rows -> {out}"]
    if table.height:
        ts = pl.col("timestamp")
        first, last = table.select(ts.min().alias("first"), ts.max().alias("last")).row(0)
        lines.append(f"time range: {first.isoformat()} .. {last.isoformat()}")
    labelled = table.get_column("label").drop_nulls()
    if labelled.len():
        frauds = int(labelled.sum())
        rate = frauds / labelled.len()
        lines.append(f"fraud rate: {rate:.2%} ({frauds:,} of {labelled.len():,} labelled)")
    else:
        lines.append("fraud rate: no labels")
    lines.append(
        f"duplicate ids: {report.duplicate_ids:,}"
        + (f" ({report.duplicate_rows_dropped:,} rows dropped)" if report.duplicate_ids else "")
        + (", ids derived from row content" if report.derived_ids else "")
    )
    if report.invalid_rows:
        lines.append(f"invalid rows dropped: {report.invalid_rows:,}, e.g. {report.problems[0]}")
    if report.unused_columns:
        shown = ", ".join(repr(c) for c in report.unused_columns)
        lines.append(f"columns not imported: {shown}")
    return lines
