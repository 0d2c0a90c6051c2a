"""The in-process state store: one dict per space, snapshots to a file.

``begin`` hands out the store's own record objects and ``commit`` puts them back: on this store the
hand-back of a record changed in place costs one dict store, which keeps the online features
within a few per cent of a bare dict (see docs/BENCHMARKS.md). Both are written as straight-line
code for the layout's spaces when the store is opened, like the executor's step. A label's change
is applied to its records here, by the spaces' ``replay``.

Expiry: each key is queued once, when its record is created, and queued again when found alive;
every creation pays for checking two queued keys, so a queue turns faster than it grows and
expired state stays bounded (at most about the live state again), without any update walking the
whole state (a full sweep every 65,536 updates paused one update for ~1 s).

Snapshots are one file: a magic line, a JSON header (format, catalogue version) and a pickle of the
spaces and the bookkeeping. ``MemoryStore.restore`` refuses a snapshot of another format or
catalogue version.
"""

from __future__ import annotations

import heapq
import json
import linecache
import pickle
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from frisk.errors import FeatureError, StoreError
from frisk.features.state import NEVER, DueLabel, Found, StateLayout

__all__ = ["SNAPSHOT_FORMAT", "MemoryStore"]

_MAGIC: Final = b"FRISK-FEATURE-STATE\n"
# 2: flat entity records with cumulative logs; labels queued with their entity ids.
# Bump on ANY change to the state layout (entity.py, compiled.py, this module's bookkeeping): a
# snapshot of another layout must be refused (the service then rebuilds from the ledger), never
# read. 3: max queues became lists. 4: distinct counts mark superseded occurrences; ``last`` holds
# positions. 5: the bookkeeping left the spaces (no ``_meta``/``_txns`` spaces; pending labels
# without the executor's sequence numbers).
SNAPSHOT_FORMAT: Final = 5

_Load = Callable[[Sequence[str | None]], Sequence[Any]]
_Begin = Callable[[str, int, Sequence[str | None], Mapping[str, Any]], tuple[int, Sequence[Any]]]
_Save = Callable[[int, Sequence[str | None], Sequence[Any]], None]
_Commit = Callable[[str, int, Sequence[str | None], Sequence[Any]], None]


class MemoryStore:
    """State in this process's memory: one dict per space."""

    def __init__(self) -> None:
        self._spaces: dict[str, dict[str, Any]] = {}
        self.clock: int | None = None
        self.next_label_at: int = NEVER
        # heap of (arrival, seq, transaction_id, label, found or None)
        self._pending: list[tuple[int, int, str, int, Found | None]] = []
        self._seq = 0
        self._txns: dict[str, Found] = {}  # transaction_id -> (timestamp, label keys...)
        self._txn_order: deque[str] = deque()  # oldest first
        self._version: str | None = None
        self._layout: StateLayout | None = None
        self._queues: list[deque[str]] = []
        self.begin: _Begin = _unopened
        self.read: _Load = _unopened
        self.commit: _Commit = _unopened
        self._save: _Save = _unopened

    # -- StateStore ------------------------------------------------------------------------

    def open(self, layout: StateLayout) -> None:
        if self._version is not None and self._version != layout.catalogue_version:
            raise FeatureError(
                f"this state was kept for catalogue version {self._version!r}, "
                f"not {layout.catalogue_version!r}"
            )
        self._version = layout.catalogue_version
        self._layout = layout
        spaces = [self._spaces.setdefault(spec.name, {}) for spec in layout.spaces]
        self._queues = [deque(space) for space in spaces]
        self.read, self.begin, self._save, self.commit = _compile(
            self, layout, spaces, self._queues
        )

    def label(self, at: int, keys: Sequence[str | None], change: Any) -> None:
        layout = self._layout
        if layout is None:
            raise FeatureError("the state store is used before an executor opened it")
        records = list(self.read(keys))
        for i, (spec, key) in enumerate(zip(layout.spaces, keys, strict=True)):
            if key is not None:
                replay = spec.replay
                if replay is None:
                    raise FeatureError(f"space {spec.name!r} has no replay: it takes no changes")
                records[i] = replay(records[i], at, change)
        self._save(at, keys, records)

    def queue_label(self, at: int, transaction_id: str, label: int, found: Found | None) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (at, self._seq, transaction_id, label, found))
        self.next_label_at = self._pending[0][0]

    def due_labels(self, t: int) -> list[DueLabel]:
        pending, txns = self._pending, self._txns
        due: list[DueLabel] = []
        while pending and pending[0][0] < t:
            at, _, txn, label, found = heapq.heappop(pending)
            due.append((at, label, txns.get(txn) if found is None else found))
        self.next_label_at = pending[0][0] if pending else NEVER
        return due

    def sweep(self) -> int:
        if self.clock is None or self._layout is None:
            return 0
        dropped = 0
        for spec, queue in zip(self._layout.spaces, self._queues, strict=True):
            space = self._spaces[spec.name]
            before = len(space)
            _sweep(space, queue, spec.expires_at, self.clock, len(queue))
            dropped += before - len(space)
        return dropped

    # -- beyond the Protocol: this store's own ---------------------------------------------

    def keys(self, space: str) -> set[str]:
        """The keys one space holds now (expired ones not yet swept included)."""
        return set(self._spaces.get(space, ()))

    def claims(self) -> set[str]:
        """The transaction ids whose claims are kept to route labels."""
        return set(self._txns)

    def snapshot(self, path: Path) -> None:
        """Write the whole state to ``path``, tied to the catalogue version it was opened for."""
        if self._version is None:
            raise FeatureError("a memory store is snapshotted once an executor has opened it")
        header = json.dumps({"format": SNAPSHOT_FORMAT, "catalogue_version": self._version})
        content = {
            "spaces": self._spaces,
            "clock": self.clock,
            "pending": [(at, txn, label, found) for at, _, txn, label, found in self._pending],
            "txns": self._txns,
            "txn_order": list(self._txn_order),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with tmp.open("wb") as handle:
                handle.write(_MAGIC)
                handle.write(header.encode() + b"\n")
                pickle.dump(content, handle, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
        except OSError as exc:
            raise StoreError(f"cannot write feature state snapshot {str(path)!r}: {exc}") from exc

    @classmethod
    def restore(cls, path: Path, version: str) -> MemoryStore:
        """A store holding the state of a snapshot taken with catalogue ``version``."""
        content = _read_snapshot(path, version)
        store = cls()
        try:
            store._spaces = {str(k): dict(v) for k, v in content["spaces"].items()}
            store.clock = content["clock"]
            for at, txn, label, found in content["pending"]:
                store.queue_label(at, txn, label, found)
            store._txns = dict(content["txns"])
            store._txn_order = deque(content["txn_order"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FeatureError(f"snapshot {str(path)!r} is corrupt: {exc!r}") from exc
        store._version = version
        return store


def _unopened(*args: Any) -> Any:
    raise FeatureError("the state store is used before an executor opened it")


def _sweep(
    space: dict[str, Any],
    queue: deque[str],
    expires_at: Callable[[Any], int],
    now: int,
    budget: int = 2,
) -> None:
    """Check the next ``budget`` keys of a space's queue; drop those expired at ``now``."""
    for _ in range(min(budget, len(queue))):
        key = queue.popleft()
        record = space.get(key)
        if record is None:
            continue
        if expires_at(record) <= now:
            del space[key]
        else:
            queue.append(key)


def _compile(
    store: MemoryStore,
    layout: StateLayout,
    spaces: list[dict[str, Any]],
    queues: list[deque[str]],
) -> tuple[_Load, _Begin, _Save, _Commit]:
    """``read``, ``begin``, ``save`` and ``commit`` unrolled over the layout's spaces."""
    namespace: dict[str, Any] = {
        "store": store,
        "sweep": _sweep,
        "txns": store._txns,
        "txn_order": store._txn_order,
    }
    n = len(spaces)
    keys = ", ".join(f"k{i}" for i in range(n)) + ("," if n == 1 else "")
    records = ", ".join(f"r{i}" for i in range(n)) + ("," if n == 1 else "")
    lines = ["def load(keys):", f"    {keys} = keys" if n else "    pass"]
    got = "(" + "".join(f"get{i}(k{i}), " for i in range(n)) + ")"
    lines.append(f"    return {got}")
    lines += [
        "def begin(transaction_id, t_event, keys, event):",
        f"    {keys} = keys" if n else "    pass",
        "    clock = store.clock",
        f"    return (t_event if clock is None or t_event > clock else clock), {got}",
    ]
    put = []
    for i, spec in enumerate(layout.spaces):
        namespace |= {
            f"space{i}": spaces[i],
            f"get{i}": spaces[i].get,
            f"queue{i}": queues[i],
            f"expires{i}": spec.expires_at,
        }
        put += [
            f"    if r{i} is not None:",
            f"        if k{i} in space{i}:",
            f"            space{i}[k{i}] = r{i}",
            "        else:",
            f"            space{i}[k{i}] = r{i}",
            f"            queue{i}.append(k{i})",
            f"            sweep(space{i}, queue{i}, expires{i}, t)",
        ]
    unpack = [f"    {keys} = keys", f"    {records} = records"] if n else []
    lines += ["def save(t, keys, records):", *unpack, *put, "    return None"]
    lines += ["def commit(transaction_id, t, keys, records):", *unpack, *put, "    store.clock = t"]
    label_keys = [f"k{i}" for i, spec in enumerate(layout.spaces) if spec.labels]
    if label_keys and layout.remember:
        # Keep a transaction's claim until no label may arrive for it any more, and at most
        # ``remember`` claims (the oldest are forgotten first).
        lines += [
            f"    limit = t - {layout.label_horizon}",
            "    while txn_order:",
            "        found = txns.get(txn_order[0])",
            f"        if found is not None and found[0] > limit and len(txn_order) < "
            f"{layout.remember}:",
            "            break",
            "        old = txn_order.popleft()",
            "        if found is not None:",
            "            del txns[old]",
            "    if transaction_id not in txns:",
            "        txn_order.append(transaction_id)",
            f"    txns[transaction_id] = (t, {', '.join(label_keys)})",
        ]
    source = "\n".join(lines) + "\n"
    filename = "<frisk.features.stores.memory>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace["load"], namespace["begin"], namespace["save"], namespace["commit"]


def _read_snapshot(path: Path, version: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            if handle.readline() != _MAGIC:
                raise FeatureError(f"{str(path)!r} is not a Frisk feature state snapshot")
            header = json.loads(handle.readline())
            if header.get("format") != SNAPSHOT_FORMAT:
                raise FeatureError(
                    f"snapshot {str(path)!r} has format {header.get('format')!r}, "
                    f"this Frisk reads format {SNAPSHOT_FORMAT}"
                )
            if header.get("catalogue_version") != version:
                raise FeatureError(
                    f"snapshot {str(path)!r} was taken with catalogue version "
                    f"{header.get('catalogue_version')!r}, not {version!r}"
                )
            # Snapshots are written by this process family; never load one from elsewhere.
            content: dict[str, Any] = pickle.load(handle)
    except OSError as exc:
        raise StoreError(f"cannot read feature state snapshot {str(path)!r}: {exc}") from exc
    except (pickle.UnpicklingError, json.JSONDecodeError, EOFError) as exc:
        raise FeatureError(f"snapshot {str(path)!r} is corrupt: {exc}") from exc
    return content
