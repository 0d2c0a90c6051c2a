"""Online state of one entity key and the features computed from it, one event at a time.

State is flat on purpose: a handful of containers per entity, no object per event. Python's
cyclic GC walks every container, and millions of small objects made it pause for most of a second;
ints, strings and dicts of them are not tracked at all.

An ``Entity`` keeps, per resolution, one list of buckets with *cumulative* sums
``[bucket, count, s1, s2, ...]`` after a sentinel entry, and one cursor per window (the first
bucket inside it): a window's sums are the last entry minus the one before its cursor. Learning an
event touches only the last entry, whatever the number of windows; sums are exact integers, so
they never drift. Windows move their cursors lazily when the entity is next seen, and a log drops
its prefix once the longest window has passed it.

Distinct counts share, per counted field, one list of occurrences ``[time, value, ...]`` across
all windows, where an occurrence's value becomes None once the value occurs again, and one dict
``value -> position of its latest occurrence``; each window keeps a cursor into the list and its
count, which drops by one for each occurrence still carrying its value that the cursor passes.

An entity that is new (or idle past the retention) has known features: count 0, mean NaN, ...;
``KeyLayout.fresh`` lists them, and the executor starts every output vector from those values, so
a new entity costs only the creation of its state.

This module is the layout only; ``frisk.features.compiled`` writes the code that reads and updates
it (``KeyRunner``).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from typing import Any

import orjson

from frisk.features.numeric import NAN
from frisk.features.plan import KeyPlan

__all__ = ["COMPACT", "Entity", "KeyLayout", "Log", "decode_label", "encode_label"]

_NAN = NAN
_NONE: tuple[Any, ...] = ()
# Below any bucket: the sentinel entry of a log, never inside a window.
_SENTINEL = -(1 << 62)
# Compact a list once its dead prefix is this long and at least half of it.
COMPACT = 256


class Entity:
    """Everything remembered about one entity (payer, payee, device or pair)."""

    __slots__ = ("distinct", "first", "last", "logs", "maxes", "nums", "recent")

    first: int
    last: int
    logs: list[list[int]]  # per resolution: sentinel, then [bucket, count, s1, s2] cumulative
    nums: list[int]  # window cursors, then (cursor, count) per distinct window, then rel. sums
    # Per max window: a monotone queue as a list, bucket and value alternating (a list is a tenth
    # of a deque's size, and the queue is short). Empty sequences are one shared tuple.
    maxes: Sequence[list[int]]
    distinct: Sequence[Any]  # per counted field: (dict value -> position, [time, value, ...])
    recent: Sequence[Any]  # per relative group: (last n amounts, the same sorted)


class KeyLayout:
    """Where the features of one entity key live in its ``Entity`` and in the output vector."""

    def __init__(self, plan: KeyPlan, retention: int) -> None:
        self.plan = plan
        self.fields = plan.fields
        self.retention = retention
        # Per resolution: (res, windows); per window: (buckets, cursor index in nums, slots of
        # count, sum, mean, std (-1: not wanted), index of its max deque (-1: none)).
        self.logs: list[tuple[int, list[tuple[int, int, int, int, int, int, int]]]] = []
        cursor = 0
        n_max = 0
        fresh: dict[int, float] = {}
        for res, windows in plan.logs:
            rows = []
            for wp in windows:
                s = wp.slots
                has_max = "max" in s
                rows.append(
                    (
                        wp.window.buckets,
                        cursor,
                        s.get("count", -1),
                        s.get("sum", -1),
                        s.get("mean", -1),
                        s.get("std", -1),
                        n_max if has_max else -1,
                    )
                )
                cursor += 1
                n_max += has_max
                for agg, slot in s.items():
                    fresh[slot] = 0.0 if agg in ("count", "sum") else _NAN
            self.logs.append((res, rows))
        self.max_slots = [
            slot
            for _, windows in plan.logs
            for wp in windows
            for agg, slot in wp.slots.items()
            if agg == "max"
        ]
        self.n_max = n_max
        # Per counted field: (event field, windows longest last as (res, buckets, nums index,
        # slot)); the field's occurrences are dropped by its longest window.
        by_field: dict[str, list[tuple[int, int, int]]] = {}
        for d in sorted(plan.distinct, key=lambda d: d.window.length):
            by_field.setdefault(d.of, []).append((d.window.res, d.window.buckets, d.slot))
            fresh[d.slot] = 0.0
        self.distinct: list[tuple[str, int, list[tuple[int, int, int, int]]]] = []
        for field, items in by_field.items():
            base = cursor  # occurrences dropped so far (positions in ``last`` are offset by it)
            cursor += 1
            rows2 = []
            for res, k, slot in items:
                rows2.append((res, k, cursor, slot))
                cursor += 2
            self.distinct.append((field, base, rows2))
        self.relative: list[tuple[int, int, int, int, int]] = []
        for r in plan.relative:
            s = r.slots
            self.relative.append(
                (
                    r.n,
                    cursor,
                    s.get("ratio_mean", -1),
                    s.get("ratio_median", -1),
                    s.get("zscore", -1),
                )
            )
            cursor += 2
            for slot in s.values():
                fresh[slot] = _NAN
        self.n_nums = cursor
        self.n_windows = sum(len(rows) for _, rows in self.logs)
        for single in (plan.recency, plan.age):
            if single is not None:
                fresh[single] = _NAN
        if plan.first_time is not None:
            fresh[plan.first_time] = 1.0
        #: (slot, value) of every feature of this key for a new entity
        self.fresh = sorted(fresh.items())
        #: every output slot of this key (NaN when the key has a null field)
        self.slots = [slot for slot, _ in self.fresh]

    def key_of(self, event: Any) -> str | None:
        """The entity key of an event, or None when a field is null (no entity)."""
        fields = self.fields
        if len(fields) == 1:
            value = event.get(fields[0])
            return None if value is None else str(value)
        parts = [event.get(f) for f in fields]
        if None in parts:
            return None
        return "\x1f".join(map(str, parts))

    def create(self, event: Any, t: int, u: int) -> Entity:
        """The state of a new entity whose first event is ``event``."""
        entity = Entity()
        entity.first = entity.last = t
        uu = u * u
        entity.logs = [[_SENTINEL, 0, 0, 0, t // res, 1, u, uu] for res, _ in self.logs]
        nums = [0] * self.n_nums
        nums[: self.n_windows] = [4] * self.n_windows
        entity.nums = nums
        entity.maxes = (
            [[t // res, u] for res, windows in self.logs for w in windows if w[6] >= 0]
            if self.n_max
            else _NONE
        )
        distinct: list[Any] = []
        for field, _, counted in self.distinct:
            value = event.get(field)
            if value is None:
                distinct.append(({}, []))
                continue
            value = str(value)
            distinct.append(({value: 0}, [t, value]))
            for _, _, at, _ in counted:
                nums[at + 1] = 1
        entity.distinct = distinct or _NONE
        recent: list[Any] = []
        for n, at, _, _, _ in self.relative:
            recent.append((deque((u,), maxlen=n), [u]))
            nums[at] = u
            nums[at + 1] = uu
        entity.recent = recent or _NONE
        return entity

    def encode(self, entity: Entity) -> bytes:
        """The entity as JSON (integers only: sums stay exact), for a store across a wire."""
        return _dumps(
            [
                entity.first,
                entity.last,
                entity.logs,
                entity.nums,
                list(entity.maxes),
                [[last, order] for last, order in entity.distinct],
                [[list(ring), ordered] for ring, ordered in entity.recent],
            ]
        )

    def decode(self, data: bytes | str) -> Entity:
        """The entity ``encode`` wrote."""
        first, last, logs, nums, maxes, distinct, recent = _loads(data)
        entity = Entity()
        entity.first, entity.last, entity.logs, entity.nums = first, last, logs, nums
        entity.maxes = maxes if self.n_max else _NONE
        entity.distinct = [(values, order) for values, order in distinct] or _NONE
        entity.recent = [
            (deque(ring, maxlen=r[0]), ordered)
            for (ring, ordered), r in zip(recent, self.relative, strict=True)
        ] or _NONE
        return entity


class Log:
    """Buckets of one resolution and the running sums of each window over them (labels)."""

    __slots__ = ("entries", "windows")

    def __init__(self, n_windows: int) -> None:
        self.entries: list[int] = []
        self.windows: list[int] = [0] * (4 * n_windows)

    def expire(self, bucket: int, buckets: tuple[int, ...]) -> None:
        """Drop from each window the buckets at or before ``bucket - K``."""
        entries = self.entries
        size = len(entries)
        windows = self.windows
        for j, k in enumerate(buckets):
            limit = bucket - k
            o = 4 * j
            i = windows[o]
            if i < size and entries[i] <= limit:
                count, s1, s2 = windows[o + 1], windows[o + 2], windows[o + 3]
                while i < size and entries[i] <= limit:
                    count -= entries[i + 1]
                    s1 -= entries[i + 2]
                    s2 -= entries[i + 3]
                    i += 4
                windows[o], windows[o + 1], windows[o + 2], windows[o + 3] = i, count, s1, s2

    def insert(self, bucket: int, count: int, v1: int, v2: int) -> None:
        """``add`` for a bucket that may be older than the newest (labels by transaction time).

        Windows whose first live entry comes after the new one's place have already let that
        bucket go: they only shift their position. The others count it, and drop it in
        ``expire`` when their limit passes it, as any entry.
        """
        entries = self.entries
        size = len(entries)
        if not size or entries[size - 4] < bucket:
            self.add(bucket, count, v1, v2)
            return
        lo, hi = 0, size // 4
        while lo < hi:  # the first entry with a bucket >= ``bucket``
            mid = (lo + hi) // 2
            if entries[4 * mid] < bucket:
                lo = mid + 1
            else:
                hi = mid
        p = 4 * lo
        windows = self.windows
        if entries[p] == bucket:
            entries[p + 1] += count
            entries[p + 2] += v1
            entries[p + 3] += v2
            for o in range(0, len(windows), 4):
                if windows[o] <= p:
                    windows[o + 1] += count
                    windows[o + 2] += v1
                    windows[o + 3] += v2
            return
        entries[p:p] = (bucket, count, v1, v2)
        for o in range(0, len(windows), 4):
            if windows[o] <= p:
                windows[o + 1] += count
                windows[o + 2] += v1
                windows[o + 3] += v2
            else:
                windows[o] += 4

    def add(self, bucket: int, count: int, v1: int, v2: int) -> None:
        entries = self.entries
        size = len(entries)
        if size and entries[size - 4] == bucket:
            entries[size - 3] += count
            entries[size - 2] += v1
            entries[size - 1] += v2
        else:
            entries.extend((bucket, count, v1, v2))
        windows = self.windows
        for o in range(0, len(windows), 4):
            windows[o + 1] += count
            windows[o + 2] += v1
            windows[o + 3] += v2
        cut = windows[len(windows) - 4]
        if cut >= COMPACT and 2 * cut >= size:
            del entries[:cut]
            for o in range(0, len(windows), 4):
                windows[o] -= cut


def encode_label(record: list[Any]) -> bytes:
    """A label record ``[last arrival, [Log per resolution]]`` as JSON."""
    return _dumps([record[0], [[log.entries, log.windows] for log in record[1]]])


def decode_label(data: bytes | str) -> list[Any]:
    """The label record ``encode_label`` wrote."""
    at, logs = _loads(data)
    decoded = []
    for entries, windows in logs:
        log = Log(0)
        log.entries, log.windows = entries, windows
        decoded.append(log)
    return [at, decoded]


# A record is JSON of integers. orjson writes and reads it several times faster than json (the
# record of a busy payee is rewritten on every event), but holds integers to 64 bits and reads a
# larger one as a float. Sums of squared cents can pass 2**63, so a record holding such an integer
# is written by json behind this marker byte, and read back by json, exactly.
_WIDE = b"~"
_WIDE_MARKS = (_WIDE, _WIDE.decode())  # a record read as bytes or as text


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits
        return _WIDE + json.dumps(value, separators=(",", ":")).encode()


def _loads(data: bytes | str) -> Any:
    if data[:1] in _WIDE_MARKS:
        return json.loads(data[1:])
    return orjson.loads(data)
