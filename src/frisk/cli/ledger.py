"""``frisk ledger stats|archive``: what the ledger holds, and moving old decisions out of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from frisk.cli.app import app
from frisk.cli.options import parse_instant
from frisk.config import load_settings
from frisk.errors import InputError

if TYPE_CHECKING:
    from frisk.store.archive import ArchiveResult

__all__ = ["ledger_app"]

ledger_app = typer.Typer(help="The ledger: its size, retention and archive.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("stats")
def stats_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per table.")] = False,
) -> None:
    """Rows, bytes on disk (indexes included) and the oldest record of each table."""
    from frisk.store import default_url, open_ledger

    settings = load_settings()
    ledger = open_ledger(settings.database_url or default_url(settings.home))
    try:
        found = ledger.stats()
    finally:
        ledger.close()
    if as_json:
        for table in found:
            typer.echo(json.dumps(table.to_dict()))
        return
    typer.echo(f"{'table':<20}{'rows':>12}{'bytes':>15}{'B/row':>8}  oldest")
    for t in found:
        per_row = "" if t.bytes_per_row is None else f"{t.bytes_per_row:,.0f}"
        oldest = "" if t.oldest is None else t.oldest.isoformat()
        typer.echo(f"{t.table:<20}{t.rows:>12,}{t.bytes:>15,}{per_row:>8}  {oldest}")


@ledger_app.command("archive")
def archive_command(
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            help="Move decisions of transactions before this date or instant (UTC if naive). "
            "Default: now minus ledger.retention_days.",
        ),
    ] = None,
    to: Annotated[
        Path | None, typer.Option("--to", help="Archive directory (default: ledger.archive_dir).")
    ] = None,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, help="Rows per deleting transaction.")
    ] = None,
    pause_ms: Annotated[
        float | None, typer.Option("--pause-ms", min=0, help="Pause between those.")
    ] = None,
) -> None:
    """Move old decisions, with their labels and reviews, into Parquet (partitioned by day),
    verify, then delete them from the ledger in batches."""
    from frisk.store import default_url, open_ledger

    settings = load_settings()
    cfg = settings.ledger
    moment = parse_instant(before, "--before")
    if moment is None:
        if cfg.retention_days is None:
            raise InputError("give --before DATE, or set ledger.retention_days")
        moment = datetime.now(UTC) - timedelta(days=cfg.retention_days)
    target = to if to is not None else settings.archive_dir
    ledger = open_ledger(settings.database_url or default_url(settings.home))
    try:
        result = ledger.archive(
            moment,
            target,
            batch=batch if batch is not None else cfg.archive_batch,
            pause=(pause_ms if pause_ms is not None else cfg.archive_pause_ms) / 1000,
        )
    finally:
        ledger.close()
    typer.echo(_summary(result, target))


def _summary(result: ArchiveResult, target: Path) -> str:
    if not result.days:
        return f"nothing before {result.before.isoformat()} to archive"
    rows = ", ".join(f"{n:,} {table}" for table, n in result.rows.items())
    first, last = min(result.days), max(result.days)
    return (
        f"archived {rows} of {len(result.days)} day(s) {first}..{last} into {target} "
        f"({len(result.parts)} parts, verified) in {result.seconds:.1f}s"
    )
