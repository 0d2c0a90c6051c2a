"""Online state of one entity key and the features computed from it, one event at a time.

State is flat on purpose (a few lists per entity, no object per event): Python's cyclic GC walks
every container, and millions of small objects made it pause for most of a second.

A ``Log`` holds an entity's buckets of one resolution as a flat list ``[bucket, count, s1, s2,
...]`` plus, per window, ``[cursor, count, s1, s2]``; a window's running sums only ever add and
subtract exact integers, so they never drift. Windows expire buckets lazily when the entity is
next seen, and the log drops its prefix once the longest window has passed it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from typing import Any

from frisk.features.numeric import SCALE, std_units
from frisk.features.plan import KeyPlan

__all__ = ["Entity", "KeyRunner", "Log"]

_NAN = float("nan")
_MICROS = 1e6
# (buckets, count, sum, mean, max, std): output slots, -1 where the feature is not wanted
WindowSlots = tuple[int, int, int, int, int, int]


class Log:
    """Buckets of one resolution and the running sums of each window over them."""

    __slots__ = ("entries", "maxes", "windows")

    def __init__(self, n_windows: int, with_max: tuple[bool, ...]) -> None:
        self.entries: list[int] = []
        self.windows: list[int] = [0] * (4 * n_windows)
        self.maxes: list[deque[tuple[int, int]] | None] | None = (
            [deque() if flag else None for flag in with_max] if any(with_max) else None
        )

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
            if self.maxes is not None:
                dq = self.maxes[j]
                while dq and dq[0][0] <= limit:
                    dq.popleft()

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
        if self.maxes is not None:
            for dq in self.maxes:
                if dq is not None:
                    while dq and dq[-1][1] <= v1:
                        dq.pop()
                    dq.append((bucket, v1))
        # The longest window (last) has the smallest cursor; drop what it has passed.
        cut = windows[len(windows) - 4]
        if cut >= 256 and 2 * cut >= size:
            del entries[:cut]
            for o in range(0, len(windows), 4):
                windows[o] -= cut


class Entity:
    """Everything remembered about one entity (payer, payee, device or pair)."""

    __slots__ = ("distinct", "first", "last", "logs", "recent")

    def __init__(self, runner: KeyRunner, t: int) -> None:
        self.first = t
        self.last = t
        self.logs = [Log(len(buckets), with_max) for _, buckets, _, with_max in runner.logs]
        self.distinct: list[tuple[dict[str, int], deque[tuple[int, str]]]] = [
            ({}, deque()) for _ in runner.distinct
        ]
        # Per relative group: (last n amounts, the same sorted, [sum, sum of squares])
        self.recent: list[tuple[deque[int], list[int], list[int]]] = [
            (deque(maxlen=n), [], [0, 0]) for n, _ in runner.relative
        ]


class KeyRunner:
    """The features of one entity key, precompiled from its ``KeyPlan``."""

    def __init__(self, plan: KeyPlan, retention: int) -> None:
        self.plan = plan
        self.fields = plan.fields
        self.retention = retention
        self.logs: list[tuple[int, tuple[int, ...], tuple[WindowSlots, ...], tuple[bool, ...]]] = []
        for res, windows in plan.logs:
            slots = tuple(
                (
                    wp.window.buckets,
                    wp.slots.get("count", -1),
                    wp.slots.get("sum", -1),
                    wp.slots.get("mean", -1),
                    wp.slots.get("max", -1),
                    wp.slots.get("std", -1),
                )
                for wp in windows
            )
            buckets = tuple(wp.window.buckets for wp in windows)
            with_max = tuple("max" in wp.slots for wp in windows)
            self.logs.append((res, buckets, slots, with_max))
        self.distinct = [(d.of, d.window.res, d.window.buckets, d.slot) for d in plan.distinct]
        self.relative = [
            (
                r.n,
                (
                    r.slots.get("ratio_mean", -1),
                    r.slots.get("ratio_median", -1),
                    r.slots.get("zscore", -1),
                ),
            )
            for r in plan.relative
        ]

    def key_of(self, event: Any) -> str | None:
        """The entity key of an event, or None when a field is null (no entity)."""
        if len(self.fields) == 1:
            value = event.get(self.fields[0])
            return None if value is None else str(value)
        parts = [event.get(f) for f in self.fields]
        if any(part is None for part in parts):
            return None
        return "\x1f".join(map(str, parts))

    def run(
        self,
        space: Any,
        key: str,
        event: Any,
        t: int,
        u: int,
        out: list[Any],
        commit: bool,
    ) -> None:
        """Write this key's features of the event at ``t`` into ``out``; then learn it."""
        plan = self.plan
        entity: Entity | None = space.get(key)
        fresh = entity is None or entity.last <= t - self.retention
        if fresh:
            entity = Entity(self, t)
            if commit:
                space[key] = entity
        assert entity is not None
        if plan.recency is not None:
            out[plan.recency] = _NAN if fresh else float(t - entity.last) / _MICROS
        if plan.age is not None:
            out[plan.age] = _NAN if fresh else float(t - entity.first) / _MICROS
        if plan.first_time is not None:
            out[plan.first_time] = 1.0 if fresh else 0.0
        for log, (res, buckets, slots, _) in zip(entity.logs, self.logs, strict=True):
            bucket = t // res
            log.expire(bucket, buckets)
            _emit_windows(log, slots, out)
            if commit:
                log.add(bucket, 1, u, u * u)
        for (values, order), (field, res, k, slot) in zip(
            entity.distinct, self.distinct, strict=True
        ):
            bucket = t // res
            limit = bucket - k
            while order and order[0][0] <= limit:
                old_bucket, old = order.popleft()
                if values.get(old) == old_bucket:
                    del values[old]
            out[slot] = float(len(values))
            value = event.get(field)
            if commit and value is not None:
                value = str(value)
                if values.get(value) != bucket:
                    values[value] = bucket
                    order.append((bucket, value))
        for recent, (_, relative_slots) in zip(entity.recent, self.relative, strict=True):
            _emit_relative(recent, relative_slots, u, out)
            if commit:
                _learn_relative(recent, u)
        if commit:
            entity.last = t


def _emit_windows(log: Log, slots: tuple[WindowSlots, ...], out: list[Any]) -> None:
    windows = log.windows
    for j, (_, s_count, s_sum, s_mean, s_max, s_std) in enumerate(slots):
        o = 4 * j
        count = windows[o + 1]
        total = windows[o + 2]
        if s_count >= 0:
            out[s_count] = float(count)
        if s_sum >= 0:
            out[s_sum] = float(total) / SCALE
        if s_mean >= 0:
            out[s_mean] = float(total) / count / SCALE if count else _NAN
        if s_max >= 0 and log.maxes is not None:
            dq = log.maxes[j]
            out[s_max] = float(dq[0][1]) / SCALE if dq else _NAN
        if s_std >= 0:
            out[s_std] = std_units(count, total, windows[o + 3]) / SCALE if count >= 2 else _NAN


def _emit_relative(
    recent: tuple[deque[int], list[int], list[int]],
    slots: tuple[int, int, int],
    u: int,
    out: list[Any],
) -> None:
    ring, ordered, sums = recent
    s_mean, s_median, s_z = slots
    k = len(ring)
    total = sums[0]
    mean = float(total) / k if k else _NAN
    uf = float(u)
    if s_mean >= 0:
        out[s_mean] = uf / mean if k and total > 0 else _NAN
    if s_median >= 0:
        if k:
            half = k // 2
            median = float(ordered[half]) if k % 2 else (ordered[half - 1] + ordered[half]) / 2
        else:
            median = 0.0
        out[s_median] = uf / median if median > 0 else _NAN
    if s_z >= 0:
        std = std_units(k, total, sums[1]) if k >= 2 else 0.0
        out[s_z] = (uf - mean) / std if std > 0 else _NAN


def _learn_relative(recent: tuple[deque[int], list[int], list[int]], u: int) -> None:
    ring, ordered, sums = recent
    if len(ring) == ring.maxlen:
        old = ring[0]
        del ordered[bisect_left(ordered, old)]
        sums[0] -= old
        sums[1] -= old * old
    ring.append(u)
    insort(ordered, u)
    sums[0] += u
    sums[1] += u * u
