"""Named allow and block lists with optional expiry, and the immutable snapshot decisions read.

A list holds string values (payer ids, devices, countries, any field's value). A list with a
``field`` is a hard list: the policy checks that field against it before any rule. Any list can be
read in a rule: ``payee_id in blocklist("mule_accounts")``. An entry whose ``expires_at`` has passed
never matches (``now < expires_at`` matches).

``ListStore`` is the plug-in point (the SQL ledger implements it later); ``MemoryListStore`` keeps
lists in memory and in a JSON file. Every change returns an ``AuditRecord`` and bumps ``version``;
``snapshot()`` is what a ``Policy`` holds, so a change takes effect by swapping in a new policy.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from frisk.errors import NotFoundError
from frisk.policy.audit import AuditRecord
from frisk.policy.errors import RuleError

__all__ = [
    "ListEntry",
    "ListKind",
    "ListSnapshot",
    "ListStore",
    "MemoryListStore",
    "NamedList",
    "check_value",
    "read_entries",
]

ListKind = Literal["allow", "block"]
_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NEVER: Final = None
# The ledger's list_entries.value column, and what the API accepts.
MAX_VALUE_LENGTH: Final = 256


@dataclass(frozen=True, slots=True)
class NamedList:
    """A list's definition; ``field`` makes it a hard list on that transaction field."""

    name: str
    kind: ListKind
    field: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise RuleError(f"list name {self.name!r}: use lower-case letters, digits and _")
        if self.kind not in ("allow", "block"):
            raise RuleError(f"list {self.name!r}: kind {self.kind!r} is not allow or block")


@dataclass(frozen=True, slots=True)
class ListEntry:
    value: str
    expires_at: datetime | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise RuleError(f"list entry {self.value!r}: expires_at must be timezone-aware")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["expires_at"] = None if self.expires_at is None else self.expires_at.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class ListSnapshot:
    """Lists as they were at one version: definitions and value -> expiry (None: never)."""

    version: int = 0
    definitions: Mapping[str, NamedList] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, datetime | None]] = field(default_factory=dict)
    #: where the store that made it can continue from: ``snapshot(since=this)`` re-reads only
    #: the lists changed after it (``SqlListStore``: the last list change it saw); None: all
    cursor: int | None = None

    @property
    def kinds(self) -> dict[str, str]:
        return {name: d.kind for name, d in self.definitions.items()}

    def hard_lists(self) -> list[NamedList]:
        """Hard lists in decision order: block lists first, then allow lists, by name."""
        hard = [d for d in self.definitions.values() if d.field is not None]
        return sorted(hard, key=lambda d: (d.kind != "block", d.name))

    def at(self, now: datetime) -> _Membership:
        return _Membership(self.values, now)

    def members(self, now: datetime) -> dict[str, frozenset[str]]:
        """Each list's values that match at ``now``."""
        return {
            name: frozenset(v for v, exp in entries.items() if exp is None or now < exp)
            for name, entries in self.values.items()
        }


class _Membership:
    """A snapshot bound to one instant; what a rule's ``in blocklist(..)`` asks."""

    __slots__ = ("_now", "_values")

    def __init__(self, values: Mapping[str, Mapping[str, datetime | None]], now: datetime) -> None:
        self._values = values
        self._now = now

    def contains(self, name: str, value: str) -> bool:
        entries = self._values.get(name)
        if entries is None or value not in entries:
            return False
        expires = entries[value]
        return expires is None or self._now < expires


class ListStore(Protocol):
    """Where lists live; every change returns the audit record for the caller to persist."""

    @property
    def version(self) -> int: ...

    def create(self, spec: NamedList, *, actor: str, at: datetime) -> AuditRecord: ...

    def drop(self, name: str, *, actor: str, at: datetime) -> AuditRecord: ...

    def add(
        self, name: str, entries: Iterable[ListEntry], *, actor: str, at: datetime
    ) -> AuditRecord: ...

    def remove(
        self, name: str, values: Iterable[str], *, actor: str, at: datetime
    ) -> AuditRecord: ...

    def entries(self, name: str) -> list[ListEntry]: ...

    def snapshot(self, since: ListSnapshot | None = None) -> ListSnapshot:
        """Every list now; ``since`` (an earlier snapshot of this store) lets a store re-read
        only what changed after it."""
        ...


class MemoryListStore:
    """Lists in memory, optionally saved to and loaded from a JSON file; thread-safe."""

    def __init__(self) -> None:
        self._defs: dict[str, NamedList] = {}
        self._entries: dict[str, dict[str, ListEntry]] = {}
        self._version = 0
        # A snapshot iterates every list: it must never see one half-changed.
        self._lock = threading.Lock()
        # Each list's value -> expiry as the last snapshot saw it, shared by later snapshots until
        # the list changes: a change to one list copies that list, not all of them.
        self._frozen: dict[str, dict[str, datetime | None]] = {}

    @property
    def version(self) -> int:
        return self._version

    def create(self, spec: NamedList, *, actor: str, at: datetime) -> AuditRecord:
        with self._lock:
            before = self._defs.get(spec.name)
            self._defs[spec.name] = spec
            self._entries.setdefault(spec.name, {})
            action = "list.create" if before is None else "list.update"
            return self._changed(actor, action, spec.name, at, _def_json(before), _def_json(spec))

    def drop(self, name: str, *, actor: str, at: datetime) -> AuditRecord:
        with self._lock:
            spec = self._require(name)
            del self._defs[name]
            count = len(self._entries.pop(name, {}))
            before = {**(_def_json(spec) or {}), "entries": count}
            return self._changed(actor, "list.drop", name, at, before, None)

    def add(
        self, name: str, entries: Iterable[ListEntry], *, actor: str, at: datetime
    ) -> AuditRecord:
        with self._lock:
            self._require(name)
            held = self._entries[name]
            added = list(entries)
            before = [held[e.value].to_json() for e in added if e.value in held]
            for entry in added:
                held[entry.value] = entry
            after = [e.to_json() for e in added]
            return self._changed(actor, "list.add", name, at, before or None, after)

    def remove(self, name: str, values: Iterable[str], *, actor: str, at: datetime) -> AuditRecord:
        with self._lock:
            self._require(name)
            held = self._entries[name]
            gone = [held.pop(v).to_json() for v in values if v in held]
            return self._changed(actor, "list.remove", name, at, gone, None)

    def entries(self, name: str) -> list[ListEntry]:
        with self._lock:
            self._require(name)
            return list(self._entries[name].values())

    def snapshot(self, since: ListSnapshot | None = None) -> ListSnapshot:
        with self._lock:
            return ListSnapshot(
                version=self._version,
                definitions=dict(self._defs),
                values={name: self._frozen_values(name) for name in self._entries},
            )

    def save(self, path: Path) -> None:
        """Write every list to ``path`` as JSON (atomically: a temporary file, then rename)."""
        with self._lock:
            body = {
                "version": self._version,
                "lists": [
                    {
                        **(_def_json(d) or {}),
                        "entries": [e.to_json() for e in self._entries[n].values()],
                    }
                    for n, d in sorted(self._defs.items())
                ],
            }
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
            tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> MemoryListStore:
        """Read a file written by ``save``."""
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            store = cls()
            for item in body["lists"]:
                spec = NamedList(
                    item["name"], item["kind"], item.get("field"), item.get("description", "")
                )
                store._defs[spec.name] = spec
                store._entries[spec.name] = {
                    e["value"]: ListEntry(e["value"], _when(e.get("expires_at")), e.get("note", ""))
                    for e in item.get("entries", [])
                }
            store._version = int(body.get("version", 0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RuleError(f"{str(path)!r}: not a list file ({exc})") from exc
        return store

    def _frozen_values(self, name: str) -> dict[str, datetime | None]:
        frozen = self._frozen.get(name)
        if frozen is None:
            frozen = {v: e.expires_at for v, e in self._entries[name].items()}
            self._frozen[name] = frozen
        return frozen

    def _require(self, name: str) -> NamedList:
        if name not in self._defs:
            raise NotFoundError(f"no list named {name!r}")
        return self._defs[name]

    def _changed(
        self, actor: str, action: str, name: str, at: datetime, before: Any, after: Any
    ) -> AuditRecord:
        self._version += 1
        self._frozen.pop(name, None)
        return AuditRecord(actor, action, f"list:{name}", at, before, after)


def read_entries(path: Path, *, expires_at: datetime | None = None) -> list[ListEntry]:
    """Entries of a bulk-import file: one value per line (.txt) or CSV with a ``value`` column.

    A CSV may carry ``expires_at`` (ISO 8601 with a zone; empty for never) and ``note`` columns;
    ``expires_at`` given here applies to rows without their own.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{str(path)!r}: cannot read ({exc})") from exc
    if path.suffix.lower() != ".csv":
        lines = ((n, line.strip()) for n, line in enumerate(text.splitlines(), start=1))
        return [
            ListEntry(check_value(v, f"{str(path)!r}: line {n}"), expires_at)
            for n, v in lines
            if v and not v.startswith("#")
        ]
    rows = csv.DictReader(io.StringIO(text))
    if rows.fieldnames is None or "value" not in rows.fieldnames:
        raise RuleError(f"{str(path)!r}: a list CSV needs a 'value' column")
    out: list[ListEntry] = []
    for number, row in enumerate(rows, start=1):
        value = (row.get("value") or "").strip()
        if not value:
            raise RuleError(f"{str(path)!r}: row {number} has an empty value")
        try:
            when = _when(row.get("expires_at")) or expires_at
        except ValueError as exc:
            raise RuleError(f"{str(path)!r}: row {number}, expires_at: {exc}") from exc
        check_value(value, f"{str(path)!r}: row {number}")
        out.append(ListEntry(value, when, (row.get("note") or "").strip()))
    return out


def check_value(value: str, where: str) -> str:
    """``value`` when a list can hold it (what the ledger and the API take); else ``RuleError``."""
    if not value:
        raise RuleError(f"{where}: the value is empty")
    if len(value) > MAX_VALUE_LENGTH:
        raise RuleError(
            f"{where}: the value has {len(value):,} characters, over {MAX_VALUE_LENGTH}"
        )
    if "\x00" in value:  # PostgreSQL text cannot hold it
        raise RuleError(f"{where}: the value holds a NUL character")
    return value


def _when(text: str | None) -> datetime | None:
    if text is None or not text.strip():
        return None
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment


def _def_json(spec: NamedList | None) -> dict[str, Any] | None:
    return None if spec is None else asdict(replace(spec))
