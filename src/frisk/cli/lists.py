"""``frisk lists``: named allow and block lists in a lists file (JSON), with bulk import.

Every change appends its audit record (who, when, before, after) to ``--audit`` as JSON Lines.
These are files for backtests (``frisk rules backtest --lists``); the service keeps its lists in
the ledger and manages them over HTTP (``/v1/lists``).
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from frisk.cli.app import app
from frisk.cli.options import parse_instant

if TYPE_CHECKING:
    from frisk.policy import AuditRecord, MemoryListStore

lists_app = typer.Typer(help="Manage allow and block lists.", no_args_is_help=True)
app.add_typer(lists_app, name="lists")

StoreOpt = Annotated[Path, typer.Option("--store", help="Lists file (JSON); created if absent.")]
AuditOpt = Annotated[
    Path | None, typer.Option("--audit", help="Append audit records here (JSON Lines).")
]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who is changing (default: $USER).")]
ExpiresOpt = Annotated[
    str | None,
    typer.Option("--expires", help="Entries stop matching at this instant (UTC if naive)."),
]


@lists_app.command("create")
def create(
    name: str,
    store: StoreOpt,
    kind: Annotated[str, typer.Option("--kind", help="allow or block.")] = "block",
    field: Annotated[
        str | None, typer.Option("--field", help="Make it a hard list on this transaction field.")
    ] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    actor: ActorOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Create (or redefine) a list."""
    from frisk.policy import NamedList

    lists = _open(store)
    spec = NamedList(name, kind, field, description)  # type: ignore[arg-type]
    _done(lists, store, audit, lists.create(spec, actor=_actor(actor), at=_now()))


@lists_app.command("add")
def add(
    name: str,
    values: list[str],
    store: StoreOpt,
    expires: ExpiresOpt = None,
    actor: ActorOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Add values (or renew their expiry)."""
    from frisk.policy import ListEntry

    lists = _open(store)
    until = parse_instant(expires, "--expires")
    entries = [ListEntry(v, until) for v in values]
    _done(lists, store, audit, lists.add(name, entries, actor=_actor(actor), at=_now()))


@lists_app.command("import")
def import_entries(
    name: str,
    file: Annotated[Path, typer.Option("--file", help=".txt (one per line) or .csv (value,...).")],
    store: StoreOpt,
    expires: ExpiresOpt = None,
    actor: ActorOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Bulk-add the entries of a file."""
    from frisk.policy import read_entries

    lists = _open(store)
    entries = read_entries(file, expires_at=parse_instant(expires, "--expires"))
    _done(lists, store, audit, lists.add(name, entries, actor=_actor(actor), at=_now()))
    typer.echo(f"{len(entries):,} entries imported into {name}")


@lists_app.command("remove")
def remove(
    name: str, values: list[str], store: StoreOpt, actor: ActorOpt = None, audit: AuditOpt = None
) -> None:
    """Remove values."""
    lists = _open(store)
    _done(lists, store, audit, lists.remove(name, values, actor=_actor(actor), at=_now()))


@lists_app.command("drop")
def drop(name: str, store: StoreOpt, actor: ActorOpt = None, audit: AuditOpt = None) -> None:
    """Delete a list and its entries."""
    lists = _open(store)
    _done(lists, store, audit, lists.drop(name, actor=_actor(actor), at=_now()))


@lists_app.command("show")
def show(store: StoreOpt, name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Lists and their sizes, or one list's entries."""
    lists = _open(store)
    snap = lists.snapshot()
    if name is None:
        for spec in snap.definitions.values():
            hard = f" on {spec.field}" if spec.field else ""
            typer.echo(f"{spec.name}  {spec.kind}{hard}  {len(snap.values[spec.name]):,} entries")
        return
    for entry in lists.entries(name):
        until = "" if entry.expires_at is None else f"  until {entry.expires_at.isoformat()}"
        typer.echo(f"{entry.value}{until}")


def _open(path: Path) -> MemoryListStore:
    from frisk.policy import MemoryListStore

    return MemoryListStore.load(path) if path.exists() else MemoryListStore()


def _done(lists: MemoryListStore, path: Path, audit: Path | None, record: AuditRecord) -> None:
    lists.save(path)
    if audit is not None:
        with audit.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(record), default=str) + "\n")
    typer.echo(f"{record.action} {record.target} by {record.actor} (lists version {lists.version})")


def _actor(actor: str | None) -> str:
    return actor or getpass.getuser()


def _now() -> datetime:
    return datetime.now(UTC)
