"""Options shared by several commands, and the parsing of their values."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from frisk.errors import InputError

__all__ = ["EndOpt", "EventsOpt", "MappingOpt", "SkipInvalidOpt", "StartOpt", "parse_instant"]

EventsOpt = Annotated[
    Path,
    typer.Option("--events", help="Event file: CSV, Parquet or JSON Lines.", show_default=False),
]
MappingOpt = Annotated[
    Path | None,
    typer.Option("--mapping", help="Column mapping (TOML); omit when the file is canonical."),
]
SkipInvalidOpt = Annotated[
    bool,
    typer.Option(
        "--skip-invalid", help="Drop invalid rows (and report how many) instead of failing."
    ),
]
StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start", help="First instant, inclusive: a date or an ISO datetime (UTC if naive)."
    ),
]
EndOpt = Annotated[
    str | None,
    typer.Option(
        "--end", help="Last instant, exclusive: a date or an ISO datetime (UTC if naive)."
    ),
]


def parse_instant(value: str | None, option: str) -> datetime | None:
    """Parse a ``--start``/``--end`` value; naive values are taken as UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InputError(
            f"{option} {value!r}: expected a date (2024-01-31) or ISO datetime"
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
