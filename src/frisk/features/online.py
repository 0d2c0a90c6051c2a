"""The online executor: features of one event from in-process (or pluggable) state.

Semantics, shared exactly by ``compute_offline``:

- Time is the event's timestamp in integer microseconds (UTC). Events are processed in the order
  given; an event never counts in its own features (except its own attributes), and earlier events
  with the same timestamp do. An event older than the latest one seen is processed at the latest
  time (the state's clock never goes back).
- Windows hold earlier events whose bucket ``ts // res`` is greater than ``t // res - K`` (see
  ``frisk.features.spec``): windows up to 1h are exactly ``(t - w, t]``; longer ones count whole
  clock hours.
- Amounts enter aggregates as integer cents (``frisk.features.numeric``); means, maxima, standard
  deviations (sample, n - 1) and sums are computed from exact integer sums, identically on both
  sides. Empty window: count 0, sum 0, mean/max NaN; std needs two events.
- An entity idle for ``retention`` (default 30 d) or more is forgotten: it is new again
  (``first_time`` 1, ``seconds_since_*`` NaN) and its relative-amount history starts over.
- Relative amount: against the entity's last ``n`` amounts since it was (re)seen: ratio to their
  mean and median, z-score with their sample std; NaN when undefined (no history, zero median or
  zero std).
- Keys with a null field (no device) are not entities: their features are NaN, and null values are
  not counted as distinct values.
- Labels: ``apply_label`` queues a label; it takes effect for events strictly after its
  ``label_timestamp`` (an event at the same instant does not see it). A label counts for the
  entities of its transaction if it arrives at or after the transaction and less than
  ``label_horizon`` (default 180 d) after it. Label windows count by arrival time (a label is
  in the window while its arrival is), or with ``clock = "event"`` by the labelled transaction's
  own time (while the transaction is in the window, from the label's arrival on): fraud count,
  label count, and fraud rate = fraud labels / labels (NaN without labels).
  Parity with the offline executor holds when labels are applied in time order, as ``warm``
  does.
- Ratios divide one feature of the event by another: NaN when either is NaN or the divisor is 0.
- A label reaches the entities of its transaction through ``apply_label(..., event=txn)`` when
  the caller has the transaction (the service's ledger does), else through the executor's memory
  of the transactions it learnt: the last ``remember`` of them (default 1,000,000, roughly 200
  bytes each), none older than the label horizon. A label of a transaction that is neither
  passed nor remembered is ignored.
"""

from __future__ import annotations

import gc
import heapq
from collections import deque
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from frisk.errors import InvalidEventError
from frisk.features.catalogue import Catalogue
from frisk.features.compiled_event import StepFunction, compile_event
from frisk.features.entity import KeyRunner, Log
from frisk.features.numeric import NAN
from frisk.features.plan import LabelPlan, compile_plan
from frisk.features.state import MemoryStore, StateStore, read_snapshot, write_snapshot

__all__ = ["OnlineFeatures"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_NAN = NAN
#: transactions remembered by default to route labels (about 200 bytes each)
DEFAULT_REMEMBER = 1_000_000
_META = "_meta"
_TXNS = "_txns"


class OnlineFeatures:
    """Compute features event by event; ``update`` returns values in ``catalogue.names`` order."""

    def __init__(
        self,
        catalogue: Catalogue,
        store: StateStore | None = None,
        *,
        remember: int = DEFAULT_REMEMBER,
    ) -> None:
        self.catalogue = catalogue
        #: how many transactions' entity ids are kept to route ``apply_label`` without ``event``
        self.remember = remember
        self.plan = plan = compile_plan(catalogue)
        self.store: StateStore = store if store is not None else MemoryStore()
        self._runners = [
            (KeyRunner(kp, plan.retention), self.store.space(f"key:{kp.key}")) for kp in plan.keys
        ]
        self._labels = [
            (lp, _label_groups(lp), self.store.space(_label_space(lp))) for lp in plan.labels
        ]
        # Every vector starts as the features of an event whose entities are all new: a new
        # entity then costs nothing but the creation of its state.
        template: list[Any] = [_NAN] * plan.width
        for runner, _ in self._runners:
            for slot, value in runner.fresh:
                template[slot] = value
        for lp in plan.labels:
            for lw in lp.windows:
                for zero in (lw.count, lw.labelled):
                    if zero is not None:
                        template[zero] = 0.0
        self._template = template
        self._label_slots = [[slot for lw in lp.windows for slot in lw.slots] for lp in plan.labels]
        # Every key of every space, queued for ``_sweep_some`` to check a few at a time.
        self._sweeps: list[tuple[MutableMapping[str, Any], deque[str], int, bool]] = [
            (space, deque(space), runner.retention, False) for runner, space in self._runners
        ]
        self._sweeps += [(space, deque(space), lp.horizon, True) for lp, _, space in self._labels]
        self._attributes = list(plan.attributes.items())
        self._calendar = list(plan.calendar.items())
        self._numeric_extras = [
            (c, slot) for c, slot, categorical in plan.extras if not categorical
        ]
        self._categorical_extras = [
            (c, slot) for c, slot, categorical in plan.extras if categorical
        ]
        meta = self.store.space(_META)
        meta.setdefault("clock", None)
        # heap of (arrival, seq, transaction_id, label, (timestamp, label keys...) or None)
        meta.setdefault("pending", [])
        meta.setdefault("seq", 0)
        meta.setdefault("updates", 0)
        meta.setdefault("txn_order", deque())  # transaction ids, oldest first
        self._meta = meta
        self._txns = self.store.space(_TXNS)  # transaction_id -> (timestamp, label keys...)
        #: ``step(event, t_event)``: everything ``update`` does once the event's time is known,
        #: as straight-line code generated for this plan (see ``compiled_event``); ``_peek`` the
        #: same for ``peek``, writing nothing
        self._step: StepFunction
        self._step, self.step_source = compile_event(self)
        self._peek: StepFunction
        self._peek, _ = compile_event(self, learn=False)

    def update(self, event: Mapping[str, Any]) -> list[float | str | None]:
        """The event's features before it, then learn it."""
        return self._process(event, commit=True)

    def peek(self, event: Mapping[str, Any]) -> list[float | str | None]:
        """The event's features without learning it or changing any state.

        Labels still queued, those arriving at or after the last ``update``'s time, are not
        seen (applying them is a change); otherwise the features are those ``update`` would
        return for the event now.
        """
        return self._process(event, commit=False)

    def apply_label(
        self,
        transaction_id: str,
        label: int,
        label_timestamp: datetime | int,
        *,
        event: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue a label; events after ``label_timestamp`` see it.

        ``event`` is the labelled transaction (its ``timestamp`` and entity ids), for callers that
        keep transactions themselves; without it the transaction is looked up among the last
        ``remember`` ones this executor learnt, and a label of one it no longer knows is ignored.
        """
        if label not in (0, 1):
            raise InvalidEventError("label", label, "must be 1 (fraud) or 0 (legit)")
        at = label_timestamp if isinstance(label_timestamp, int) else _micros(label_timestamp)
        known = None
        if event is not None:
            stamp = event.get("timestamp")
            if isinstance(stamp, datetime):
                stamp = _micros(stamp)
            if not isinstance(stamp, int):
                raise InvalidEventError("timestamp", stamp, "must be a timezone-aware datetime")
            known = self._label_keys(event, stamp)
        meta = self._meta
        meta["seq"] += 1
        heapq.heappush(meta["pending"], (at, meta["seq"], str(transaction_id), int(label), known))

    def warm(self, table: pl.DataFrame, *, freeze_gc: bool = True) -> None:
        """Replay a canonical table: its events in order, its labels at their arrival times.

        ``freeze_gc`` moves the warmed state out of the cyclic GC's sight (``gc.freeze``), which
        keeps collection pauses short in a long-running service.
        """
        self._replay(table, collect=False)
        if freeze_gc:
            gc.collect()
            gc.freeze()

    def replay(self, table: pl.DataFrame) -> pl.DataFrame:
        """Like ``warm``, returning each event's features as ``compute_offline`` does."""
        rows = self._replay(table, collect=True)
        return to_frame(table.get_column("transaction_id"), rows, self.catalogue)

    def _replay(self, table: pl.DataFrame, *, collect: bool) -> list[list[Any]]:
        if self.plan.labels and "label" in table.columns:
            labelled = table.filter(
                pl.col("label").is_not_null() & pl.col("label_timestamp").is_not_null()
            ).select("transaction_id", "label", pl.col("label_timestamp").to_physical())
            for txn, label, at in labelled.iter_rows():
                self.apply_label(txn, int(label), int(at))
        micros = table.get_column("timestamp").to_physical().to_list()
        rows = []
        for t, event in zip(micros, table.iter_rows(named=True), strict=True):
            vector = self._process(event, commit=True, t_event=t)
            if collect:
                rows.append(vector)
        return rows

    def snapshot(self, path: Path) -> None:
        """Write the whole state to ``path`` (tied to this catalogue's version)."""
        write_snapshot(path, self.catalogue.version, dict(self.store.spaces()))

    @classmethod
    def restore(cls, path: Path, catalogue: Catalogue) -> OnlineFeatures:
        """An executor continuing from a snapshot taken with the same catalogue."""
        spaces = read_snapshot(Path(path), catalogue.version)
        store = MemoryStore()
        for name, content in spaces.items():
            store.space(name).update(content)
        return cls(catalogue, store)

    def sweep(self) -> int:
        """Forget every entity idle past the retention (labels past their window); how many.

        ``update`` already does this a few keys at a time (see ``_sweep``); a full sweep walks
        all the state at once.
        """
        now = self._meta["clock"]
        if now is None:
            return 0
        dropped = 0
        for space, queue, horizon, is_label in self._sweeps:
            before = len(space)
            _sweep(space, queue, now - horizon, is_label, len(queue))
            dropped += before - len(space)
        return dropped

    def _process(
        self, event: Mapping[str, Any], *, commit: bool, t_event: int | None = None
    ) -> list[float | str | None]:
        if t_event is None:
            stamp = event.get("timestamp")
            if not isinstance(stamp, datetime) or stamp.tzinfo is None:
                raise InvalidEventError("timestamp", stamp, "must be a timezone-aware datetime")
            t_event = (stamp - _EPOCH) // _ONE_US
        return self._step(event, t_event) if commit else self._peek(event, t_event)

    def _label_keys(self, event: Mapping[str, Any], t: int) -> tuple[Any, ...]:
        keys = []
        for lp, _, _ in self._labels:
            values = [event.get(f) for f in lp.fields]
            missing = any(v is None for v in values)
            keys.append(None if missing else "\x1f".join(str(v) for v in values))
        return (t, *keys)

    def _apply_due(self, t: int) -> None:
        pending = self._meta["pending"]
        horizon = self.plan.label_horizon
        while pending and pending[0][0] < t:
            at, _, txn, label, found = heapq.heappop(pending)
            if found is None:
                found = self._txns.get(txn)
            if found is None or not found[0] <= at < found[0] + horizon:
                continue
            queues = [queue for _, queue, _, is_label in self._sweeps if is_label]
            for (lp, groups, space), key, queue in zip(
                self._labels, found[1:], queues, strict=True
            ):
                if key is None:
                    continue
                record = space.get(key)
                if record is None or record[0] <= at - lp.horizon:
                    if record is None:
                        queue.append(key)
                        _sweep(space, queue, at - lp.horizon, True)
                    record = [at, [Log(len(b)) for _, b, _ in groups]]
                    space[key] = record
                record[0] = at
                for log, (res, buckets, _) in zip(record[1], groups, strict=True):
                    log.expire(at // res, buckets)
                    if lp.clock == "event":
                        log.insert(found[0] // res, 1, label, 0)
                    else:
                        log.add(at // res, 1, label, 0)


def _sweep(
    space: MutableMapping[str, Any], queue: deque[str], limit: int, is_label: bool, budget: int = 2
) -> None:
    """Check the next ``budget`` keys of a space's queue; drop those last seen at ``limit`` or
    before.

    Each key is queued once, when its state is created, and queued again when found alive; every
    creation pays for two checks, so a queue turns faster than it grows and expired state stays
    bounded (at most about the live state again), without any update walking the whole state
    (a full sweep every 65,536 updates paused one update for ~1 s).
    """
    for _ in range(min(budget, len(queue))):
        key = queue.popleft()
        record = space.get(key)
        if record is None:
            continue
        if (record[0] if is_label else record.last) <= limit:
            del space[key]
        else:
            queue.append(key)


# (res, buckets per window, (count slot, rate slot, labelled slot) per window); -1: none
_LabelGroup = tuple[int, tuple[int, ...], tuple[tuple[int, int, int], ...]]


def _label_groups(lp: LabelPlan) -> list[_LabelGroup]:
    groups: dict[int, list[tuple[int, tuple[int, int, int]]]] = {}
    for lw in lp.windows:
        slots = (_slot(lw.count), _slot(lw.rate), _slot(lw.labelled))
        groups.setdefault(lw.window.res, []).append((lw.window.buckets, slots))
    return [
        (res, tuple(k for k, _ in items), tuple(slots for _, slots in items))
        for res, items in sorted(groups.items())
    ]


def _label_space(lp: LabelPlan) -> str:
    """The state space of a label plan: one per key and clock."""
    return f"label:{lp.key}" if lp.clock == "arrival" else f"label_{lp.clock}:{lp.key}"


def _slot(slot: int | None) -> int:
    return -1 if slot is None else slot


def to_frame(ids: pl.Series, rows: list[list[Any]], catalogue: Catalogue) -> pl.DataFrame:
    """Online vectors -> a frame shaped like ``compute_offline``'s."""
    columns = [ids]
    categorical = set(catalogue.categorical)
    for j, name in enumerate(catalogue.names):
        dtype = pl.String if name in categorical else pl.Float64
        columns.append(pl.Series(name, [row[j] for row in rows], dtype=dtype))
    return pl.DataFrame(columns)


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise InvalidEventError("timestamp", moment, "must be timezone-aware")
    return (moment - _EPOCH) // _ONE_US
