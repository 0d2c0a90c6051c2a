"""Allow and block lists in the ledger (``lists``, ``list_entries``), versioned and audited.

``SqlListStore`` implements ``frisk.policy``'s ``ListStore`` on SQLite and PostgreSQL; each
change is one transaction with its version bump and audit entry (``frisk.store._versioned``),
and snapshots after the first re-read only the lists changed since (from those audit entries).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, RowMapping

from frisk.errors import NotFoundError
from frisk.policy.audit import AuditRecord
from frisk.policy.lists import ListEntry, ListSnapshot, NamedList
from frisk.store._driver_errors import translate_errors
from frisk.store._versioned import Unchanged, Versioned, audit, list_json, record
from frisk.store.tables import audit_log, list_entries, lists

__all__ = ["ListInfo", "SqlListStore"]

_LISTS = "lists"
# Values per IN list: well under every engine's cap on a statement's parameters.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ListInfo:
    spec: NamedList
    size: int
    updated_by: str
    updated_at: datetime


class SqlListStore(Versioned):
    """Allow and block lists in the ledger; a ``ListStore``."""

    kind = _LISTS

    def create(self, spec: NamedList, *, actor: str, at: datetime) -> AuditRecord:
        """Create a list, or redefine one (its entries are kept)."""
        values = {
            "kind": spec.kind,
            "field": spec.field,
            "description": spec.description,
            "updated_by": actor,
            "updated_at": at,
        }
        with translate_errors(f"saving list {spec.name!r}"), self.engine.begin() as conn:
            version = self._bump(conn, at)
            before = _one_list(conn, spec.name)
            if before is None:
                conn.execute(lists.insert().values(name=spec.name, **values))
            else:
                conn.execute(lists.update().where(lists.c.name == spec.name).values(values))
            action = "list.create" if before is None else "list.update"
            return audit(conn, actor, action, f"list:{spec.name}", at, before, spec, version)

    def drop(self, name: str, *, actor: str, at: datetime) -> AuditRecord:
        try:
            with translate_errors(f"dropping list {name!r}"), self.engine.begin() as conn:
                self._bump(conn, at)
                spec = _one_list(conn, name)
                if spec is None:
                    raise Unchanged
                count = conn.execute(
                    list_entries.delete().where(list_entries.c.list_name == name)
                ).rowcount
                conn.execute(lists.delete().where(lists.c.name == name))
                before = {**list_json(spec), "entries": int(count)}
                return record(conn, actor, "list.drop", f"list:{name}", at, before, None)
        except Unchanged:
            raise NotFoundError(f"no list named {name!r}") from None

    def add(
        self, name: str, entries: Iterable[ListEntry], *, actor: str, at: datetime
    ) -> AuditRecord:
        """Add entries, or renew the expiry and note of ones already there."""
        added = {e.value: e for e in entries}  # the last of a repeated value wins
        try:
            with translate_errors(f"adding to list {name!r}"), self.engine.begin() as conn:
                self._bump(conn, at)
                if _one_list(conn, name) is None:
                    raise Unchanged
                before = _entries(conn, name, list(added))
                rows = [
                    {
                        "list_name": name,
                        "value": e.value,
                        "expires_at": e.expires_at,
                        "note": e.note,
                        "added_by": actor,
                        "added_at": at,
                    }
                    for e in added.values()
                ]
                if rows:
                    # One statement executed per row (executemany): a multi-row VALUES list
                    # compiled 6 parameters a row in SQLAlchemy (22 s for 100,000 entries) and
                    # overflows the engines' parameter caps.
                    stmt = self._insert(list_entries)
                    excluded = stmt.excluded
                    upsert = stmt.on_conflict_do_update(
                        index_elements=["list_name", "value"],
                        set_={
                            c: excluded[c] for c in ("expires_at", "note", "added_by", "added_at")
                        },
                    )
                    conn.execute(upsert, rows)
                after = {"entries": [e.to_json() for e in added.values()]}
                prior = {"entries": [e.to_json() for e in before]} if before else None
                return record(conn, actor, "list.add", f"list:{name}", at, prior, after)
        except Unchanged:
            raise NotFoundError(f"no list named {name!r}") from None

    def remove(self, name: str, values: Iterable[str], *, actor: str, at: datetime) -> AuditRecord:
        """Remove values; ``NotFoundError`` when the list holds none of them (nothing changes)."""
        wanted = list(dict.fromkeys(values))
        try:
            with translate_errors(f"removing from list {name!r}"), self.engine.begin() as conn:
                self._bump(conn, at)
                if _one_list(conn, name) is None:
                    raise Unchanged(f"no list named {name!r}")
                gone = _entries(conn, name, wanted)
                if not gone:
                    raise Unchanged(f"list {name!r} holds none of {', '.join(wanted[:5])}")
                for chunk in _value_chunks(conn, [e.value for e in gone]):
                    conn.execute(
                        list_entries.delete().where(list_entries.c.list_name == name, chunk)
                    )
                before = {"entries": [e.to_json() for e in gone]}
                return record(conn, actor, "list.remove", f"list:{name}", at, before, None)
        except Unchanged as exc:
            raise NotFoundError(str(exc)) from None

    def entries(self, name: str) -> list[ListEntry]:
        with translate_errors("reading list entries"), self.engine.connect() as conn:
            if _one_list(conn, name) is None:
                raise NotFoundError(f"no list named {name!r}")
            query = (
                sa.select(list_entries)
                .where(list_entries.c.list_name == name)
                .order_by(list_entries.c.value)
            )
            return [_entry(r._mapping) for r in conn.execute(query).all()]

    def page(
        self, name: str, *, limit: int = 50, after: str | None = None
    ) -> tuple[ListInfo, list[tuple[ListEntry, str, datetime]]]:
        """A list and up to ``limit`` entries by value after ``after``, with who added each."""
        with translate_errors("reading list entries"), self.engine.connect() as conn:
            infos = _read_lists(conn, name)
            if not infos:
                raise NotFoundError(f"no list named {name!r}")
            query = (
                sa.select(list_entries)
                .where(list_entries.c.list_name == name)
                .order_by(list_entries.c.value)
                .limit(limit)
            )
            if after is not None:
                query = query.where(list_entries.c.value > after)
            rows = [r._mapping for r in conn.execute(query).all()]
        return infos[0], [(_entry(r), r["added_by"], r["added_at"]) for r in rows]

    def describe(self) -> tuple[int, list[ListInfo]]:
        """The version and every list with its size, by name."""
        version, infos = self._consistent(_read_lists)
        return version, list(infos)

    def snapshot(self, since: ListSnapshot | None = None) -> ListSnapshot:
        """Every list now, re-reading only the lists changed after ``since`` when given.

        A big list (millions of cards) took ~2 s to re-read on every change to any list, in
        every instance. Each list change writes its audit entry after bumping the lists
        version, whose row lock serialises list changes: their audit ids grow in commit order,
        so the lists named by entries after ``since.cursor`` are exactly those changed since.
        """
        version, (specs, values, cursor) = self._consistent(
            lambda conn: _read_snapshot(conn, since)
        )
        return ListSnapshot(version=version, definitions=specs, values=values, cursor=cursor)


def _read_lists(conn: Connection, name: str | None = None) -> list[ListInfo]:
    size = (
        sa.select(sa.func.count())
        .where(list_entries.c.list_name == lists.c.name)
        .scalar_subquery()
        .label("size")
    )
    query = sa.select(lists, size).order_by(lists.c.name)
    if name is not None:
        query = query.where(lists.c.name == name)
    return [
        ListInfo(_spec(r._mapping), int(r.size), r.updated_by, r.updated_at)
        for r in conn.execute(query).all()
    ]


def _one_list(conn: Connection, name: str) -> NamedList | None:
    row = conn.execute(sa.select(lists).where(lists.c.name == name)).one_or_none()
    return None if row is None else _spec(row._mapping)


def _spec(row: RowMapping) -> NamedList:
    return NamedList(row["name"], row["kind"], row["field"], row["description"])


def _entries(conn: Connection, name: str, values: Sequence[str]) -> list[ListEntry]:
    out: list[ListEntry] = []
    for chunk in _value_chunks(conn, values):
        query = sa.select(list_entries).where(list_entries.c.list_name == name, chunk)
        out.extend(_entry(r._mapping) for r in conn.execute(query).all())
    return out


def _value_chunks(conn: Connection, values: Sequence[str]) -> Iterator[sa.ColumnElement[bool]]:
    """``list_entries.value`` among ``values``, as few conditions as the engine takes well.

    PostgreSQL: one array parameter (``= ANY``); an IN list of 500 parameters took 0.2 s
    there, against 6 ms for the array. SQLite: IN lists of ``_CHUNK``, under its parameter cap.
    """
    column = list_entries.c.value
    if conn.dialect.name == "postgresql":
        if values:
            array = postgresql.ARRAY(sa.String())
            yield column == sa.any_(sa.cast(sa.bindparam("values", list(values), array), array))
        return
    for start in range(0, len(values), _CHUNK):
        yield column.in_(values[start : start + _CHUNK])


def _entry(row: RowMapping) -> ListEntry:
    return ListEntry(row["value"], row["expires_at"], row["note"])


def _read_snapshot(
    conn: Connection, since: ListSnapshot | None
) -> tuple[dict[str, NamedList], dict[str, Mapping[str, datetime | None]], int]:
    specs = {s.name: s for s in (_spec(r._mapping) for r in conn.execute(sa.select(lists)))}
    # The audit targets of the lists there are and were: equality, which every collation and
    # the (target, id) index agree on (a "list:" .. "list;" range is empty under ICU and glibc
    # collations, where ";" sorts before ":").
    names = set(specs) | (set(since.values) if since is not None else set())
    in_lists = audit_log.c.target.in_(sorted(f"list:{name}" for name in names))
    latest = conn.execute(sa.select(sa.func.max(audit_log.c.id)).where(in_lists)).scalar()
    cursor = int(latest or 0)
    values: dict[str, Mapping[str, datetime | None]] = {}
    if since is not None and since.cursor is not None:
        values = _advanced(conn, since, specs, in_lists)
        # Any later change gets a later id than every entry so far, whichever list it names.
        cursor = max(cursor, since.cursor)
    fresh: dict[str, dict[str, datetime | None]] = {n: {} for n in specs if n not in values}
    if fresh:
        query = sa.select(list_entries.c.list_name, list_entries.c.value, list_entries.c.expires_at)
        if values:
            query = query.where(list_entries.c.list_name.in_(list(fresh)))
        for name, value, expires in conn.execute(query):
            if name in fresh:
                fresh[name][value] = expires
    values.update(fresh)
    return specs, values, cursor


def _advanced(
    conn: Connection,
    since: ListSnapshot,
    specs: Mapping[str, NamedList],
    in_lists: sa.ColumnElement[bool],
) -> dict[str, Mapping[str, datetime | None]]:
    """The lists of ``since`` brought up to date from the audit entries after it.

    A list no entry names is kept as it was (the same mapping). Entries added and removed are
    applied to a copy, as their audit entries record them (every value with its expiry): a copy
    of a million entries takes milliseconds where reading them again took seconds. A list
    defined, redefined or dropped meanwhile is left out, for the caller to read again.
    """
    assert since.cursor is not None
    query = (
        sa.select(audit_log.c.target, audit_log.c.action, audit_log.c.before, audit_log.c.after)
        .where(in_lists, audit_log.c.id > since.cursor)
        .order_by(audit_log.c.id)
    )
    changes: dict[str, list[tuple[str, Any, Any]]] = {}
    for target, action, before, after in conn.execute(query):
        changes.setdefault(target.removeprefix("list:"), []).append((action, before, after))
    values: dict[str, Mapping[str, datetime | None]] = {}
    for name in specs:
        held, steps = since.values.get(name), changes.get(name)
        if held is None:
            continue
        if steps is None:
            values[name] = held
            continue
        if any(action not in ("list.add", "list.remove") for action, _, _ in steps):
            continue
        current = dict(held)
        try:
            for action, before, after in steps:
                if action == "list.add":
                    for entry in after["entries"]:
                        current[entry["value"]] = _expiry(entry["expires_at"])
                else:
                    for entry in before["entries"]:
                        current.pop(entry["value"], None)
        except (KeyError, TypeError, ValueError):  # an entry not in this shape: read the list
            continue
        values[name] = current
    return values


def _expiry(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)  # as written: an offset, or naive meaning UTC
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
