"""``frisk lists``: named allow and block lists in the ledger, in a service, or in a lists file.

* The ledger (default; ``--database URL``): what services on that ledger decide with. Every
  change is stored with its audit entry (actor ``--actor``, default ``cli:$USER``); defining or
  dropping a list is compiled first against the stored rules and the served model's variables
  (``frisk.cli._policy``), so a list a rule reads cannot be dropped. Services pick changes up
  within ``policy.poll_seconds``.
* A running service (``--api URL``, an admin key in ``FRISK_API_KEY``): its ``/v1/lists`` routes.
* A lists file (``--store F.json``), for backtests (``frisk rules backtest --lists``); each change
  is appended to ``--audit`` as JSON Lines.

``import`` reads and checks the whole file before it writes anything, then adds the entries in
batches of ``--batch`` (one audited change each, one request each with ``--api``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer

from frisk.cli._policy import (
    ActorOpt,
    ApiOpt,
    DatabaseOpt,
    LedgerAccess,
    ModelOpt,
    RegistryOpt,
    actor_of,
    one_place,
    service_at,
)
from frisk.cli.app import app
from frisk.cli.options import parse_instant
from frisk.errors import ConflictError, FriskError, InputError, NotFoundError, StoreError

if TYPE_CHECKING:
    from frisk.client import FriskClient
    from frisk.policy import AuditRecord, ListEntry, MemoryListStore, NamedList

lists_app = typer.Typer(
    help="Manage allow and block lists (in the ledger, a service or a file).", no_args_is_help=True
)
app.add_typer(lists_app, name="lists")

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="A lists file (JSON) instead of the ledger; created if absent."),
]
AuditOpt = Annotated[
    Path | None,
    typer.Option("--audit", help="With --store: append audit records here (JSON Lines)."),
]
ExpiresOpt = Annotated[
    str | None,
    typer.Option("--expires", help="Entries stop matching at this instant (UTC if naive)."),
]
# The API takes at most 10,000 entries a request.
BatchOpt = Annotated[
    int, typer.Option("--batch", min=1, max=10_000, help="Entries per change (per request).")
]


@lists_app.command("create")
def create(
    name: str,
    kind: Annotated[str, typer.Option("--kind", help="allow or block.")] = "block",
    field: Annotated[
        str | None, typer.Option("--field", help="Make it a hard list on this transaction field.")
    ] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    store: StoreOpt = None,
    database: DatabaseOpt = None,
    api: ApiOpt = None,
    model: ModelOpt = None,
    registry: RegistryOpt = None,
    actor: ActorOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Create a list, or redefine one (its entries are kept)."""
    from frisk.policy import NamedList

    spec = NamedList(name, kind, field, description)  # type: ignore[arg-type]
    with _opened(store, database, api, actor, audit, model=model, registry=registry) as lists:
        typer.echo(lists.define(spec))


@lists_app.command("add")
def add(
    name: str,
    values: list[str],
    expires: ExpiresOpt = None,
    note: Annotated[str, typer.Option("--note", help="Why these values are listed.")] = "",
    store: StoreOpt = None,
    database: DatabaseOpt = None,
    api: ApiOpt = None,
    actor: ActorOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Add values (or renew their expiry)."""
    from frisk.policy import ListEntry
    from frisk.policy.lists import check_value

    until = parse_instant(expires, "--expires")
    entries = [
        ListEntry(check_value(v, f"value {i}"), until, note) for i, v in enumerate(values, 1)
    ]
    with _opened(store, database, api, actor, audit) as lists:
        typer.echo(lists.add(name, entries))


@lists_app.command("import")
def import_entries(
    name: str,
    file: Annotated[
        Path,
        typer.Option("--file", help=".txt (one per line) or .csv (value[,expires_at][,note])."),
    ],
    expires: ExpiresOpt = None,
    batch: BatchOpt = 1000,
    store: StoreOpt = None,
    database: DatabaseOpt = None,
    api: ApiOpt = None,
    actor: ActorOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Bulk-add the entries of a file: every row is checked first, a bad one refuses the file."""
    from frisk.policy import read_entries

    entries = read_entries(file, expires_at=parse_instant(expires, "--expires"))
    with _opened(store, database, api, actor, audit) as lists:
        # A lists file is rewritten whole on each change: one change, not one per batch.
        size = batch if store is None else max(len(entries), 1)
        done = 0
        for start in range(0, len(entries), size):
            chunk = entries[start : start + size]
            try:
                lists.add(name, chunk)
            except FriskError as exc:
                if not done:
                    raise  # nothing was stored: the error alone says why
                raise StoreError(
                    f"entries {start + 1:,}-{start + len(chunk):,} of {file}: {exc}; the "
                    f"{done:,} before them were stored"
                ) from exc
            done += len(chunk)
    typer.echo(f"{done:,} entries imported into {name} from {file}")


@lists_app.command("remove")
def remove(
    name: str,
    values: list[str],
    store: StoreOpt = None,
    database: DatabaseOpt = None,
    api: ApiOpt = None,
    actor: ActorOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Remove values."""
    with _opened(store, database, api, actor, audit) as lists:
        typer.echo(lists.remove(name, values))


@lists_app.command("drop")
def drop(
    name: str,
    store: StoreOpt = None,
    database: DatabaseOpt = None,
    api: ApiOpt = None,
    model: ModelOpt = None,
    registry: RegistryOpt = None,
    actor: ActorOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Delete a list and its entries; refused while a rule reads it."""
    with _opened(store, database, api, actor, audit, model=model, registry=registry) as lists:
        typer.echo(lists.drop(name))


@lists_app.command("show")
def show(
    name: Annotated[str | None, typer.Argument()] = None,
    store: StoreOpt = None,
    database: DatabaseOpt = None,
    api: ApiOpt = None,
) -> None:
    """Lists and their sizes, or one list's entries."""
    with _opened(store, database, api, None, None) as lists:
        if name is None:
            for spec, size in lists.overview():
                hard = f" on {spec.field}" if spec.field else ""
                typer.echo(f"{spec.name}  {spec.kind}{hard}  {size:,} entries")
            return
        for entry in lists.entries(name):
            until = "" if entry.expires_at is None else f"  until {entry.expires_at.isoformat()}"
            note = f"  ({entry.note})" if entry.note else ""
            typer.echo(f"{entry.value}{until}{note}")


# -- where the lists are ---------------------------------------------------------------------


class _Lists(Protocol):
    """The commands' verbs on one place; a change returns the line to print."""

    def define(self, spec: NamedList) -> str: ...

    def add(self, name: str, entries: Sequence[ListEntry]) -> str: ...

    def remove(self, name: str, values: Sequence[str]) -> str: ...

    def drop(self, name: str) -> str: ...

    def overview(self) -> list[tuple[NamedList, int]]: ...

    def entries(self, name: str) -> Iterator[ListEntry]: ...


@contextmanager
def _opened(
    store: Path | None,
    database: str | None,
    api: str | None,
    actor: str | None,
    audit: Path | None,
    *,
    model: Path | None = None,
    registry: Path | None = None,
) -> Iterator[_Lists]:
    """The place the options name, open for one command."""
    one_place(store=store, database=database, api=api)
    if audit is not None and store is None:
        raise InputError("--audit is for a lists file (--store); the ledger audits itself")
    if api is not None and (actor is not None or model or registry):
        raise InputError(
            "with --api the service's audit names the key and it compiles against its own "
            "model: drop --actor, --model and --registry"
        )
    if store is not None:
        yield _FileLists(store, audit, actor_of(actor))
    elif api is not None:
        with service_at(api) as client:  # translates the API's errors raised in the command
            yield _ApiLists(client, api)
    else:
        with LedgerAccess(database, model=model, registry=registry) as access:
            yield _LedgerLists(access, actor_of(actor))


class _LedgerLists:
    """The ledger's lists; definitions through the live policy, so rules stay compilable."""

    def __init__(self, access: LedgerAccess, actor: str) -> None:
        self.access = access
        self.actor = actor

    def define(self, spec: NamedList) -> str:
        (record,) = self.access.live.create_list(spec, actor=self.actor, at=_now())
        return self._said(record)

    def drop(self, name: str) -> str:
        from frisk.policy import RuleSyntaxError

        try:
            (record,) = self.access.live.drop_list(name, actor=self.actor, at=_now())
        except RuleSyntaxError as exc:  # what the API answers with 409
            raise ConflictError(f"list {name!r} is read by a rule: {exc.reason}") from exc
        return self._said(record)

    # Entries go to the store directly: adding or removing values cannot stop a rule from
    # compiling (LivePolicy compiles nothing for them either), and rebuilding the policy after
    # each batch would re-read every list for a process that never decides.

    def add(self, name: str, entries: Sequence[ListEntry]) -> str:
        return self._said(self.access.lists.add(name, entries, actor=self.actor, at=_now()))

    def remove(self, name: str, values: Sequence[str]) -> str:
        return self._said(self.access.lists.remove(name, values, actor=self.actor, at=_now()))

    def overview(self) -> list[tuple[NamedList, int]]:
        _, infos = self.access.lists.describe()
        return [(i.spec, i.size) for i in infos]

    def entries(self, name: str) -> Iterator[ListEntry]:
        return iter(self.access.lists.entries(name))

    def _said(self, record: AuditRecord) -> str:
        version = self.access.lists.version
        return f"{record.action} {record.target} by {record.actor} (lists version {version})"


class _ApiLists:
    """A running service's lists, through ``/v1/lists``; the service compiles and audits."""

    def __init__(self, client: FriskClient, url: str) -> None:
        self.client = client
        self.url = url

    def define(self, spec: NamedList) -> str:
        body = {"kind": spec.kind, "field": spec.field, "description": spec.description}
        self.client.put_list(spec.name, body)
        return f"list:{spec.name} defined through {self.url}"

    def add(self, name: str, entries: Sequence[ListEntry]) -> str:
        answer = self.client.add_list_entries(name, [e.to_json() for e in entries])
        return (
            f"list.add list:{name}: {answer['changed']:,} entries through {self.url} "
            f"(lists version {answer['version']})"
        )

    def remove(self, name: str, values: Sequence[str]) -> str:
        from frisk.client import ApiNotFound

        self.client.list_entries(name, limit=1)  # no such list: NotFoundError, nothing removed
        wanted = list(dict.fromkeys(values))
        removed = 0
        for value in wanted:  # the API removes one value a request
            try:
                self.client.delete_list_entry(name, value)
            except ApiNotFound:
                continue  # not held; as the ledger, fail only when none was
            removed += 1
        if not removed:
            raise NotFoundError(f"list {name!r} holds none of {', '.join(wanted[:5])}")
        return f"list.remove list:{name}: {removed:,} of {len(wanted):,} through {self.url}"

    def drop(self, name: str) -> str:
        self.client.delete_list(name)
        return f"list:{name} dropped through {self.url}"

    def overview(self) -> list[tuple[NamedList, int]]:
        from frisk.policy import NamedList

        return [
            (NamedList(i["name"], i["kind"], i["field"], i["description"]), int(i["size"]))
            for i in self.client.lists()["lists"]
        ]

    def entries(self, name: str) -> Iterator[ListEntry]:
        from frisk.policy import ListEntry

        cursor: str | None = None
        while True:
            page = self.client.list_entries(name, limit=500, cursor=cursor)
            for e in page["entries"]:
                until = None if e["expires_at"] is None else datetime.fromisoformat(e["expires_at"])
                yield ListEntry(e["value"], until, e["note"])
            cursor = page["next_cursor"]
            if cursor is None:
                return


class _FileLists:
    """A lists file (JSON), rewritten on each change; audit records appended to ``audit``."""

    def __init__(self, path: Path, audit: Path | None, actor: str) -> None:
        self.path = path
        self.audit = audit
        self.actor = actor
        self.lists: MemoryListStore = self._open()

    def define(self, spec: NamedList) -> str:
        return self._done(self.lists.create(spec, actor=self.actor, at=_now()))

    def add(self, name: str, entries: Sequence[ListEntry]) -> str:
        return self._done(self.lists.add(name, entries, actor=self.actor, at=_now()))

    def remove(self, name: str, values: Sequence[str]) -> str:
        return self._done(self.lists.remove(name, values, actor=self.actor, at=_now()))

    def drop(self, name: str) -> str:
        return self._done(self.lists.drop(name, actor=self.actor, at=_now()))

    def overview(self) -> list[tuple[NamedList, int]]:
        snap = self.lists.snapshot()
        return [(spec, len(snap.values[spec.name])) for spec in snap.definitions.values()]

    def entries(self, name: str) -> Iterator[ListEntry]:
        return iter(self.lists.entries(name))

    def _open(self) -> MemoryListStore:
        from frisk.policy import MemoryListStore

        return MemoryListStore.load(self.path) if self.path.exists() else MemoryListStore()

    def _done(self, record: AuditRecord) -> str:
        try:
            self.lists.save(self.path)
            if self.audit is not None:
                with self.audit.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(asdict(record), default=str) + "\n")
        except OSError as exc:
            raise StoreError(f"{str(exc.filename)!r}: cannot write ({exc.strerror})") from exc
        version = self.lists.version
        return f"{record.action} {record.target} by {record.actor} (lists version {version})"


def _now() -> datetime:
    return datetime.now(UTC)
