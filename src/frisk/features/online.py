"""The online executor: features of one event from in-process (or pluggable) state.

Semantics, shared exactly by ``compute_offline``:

- Time is the event's timestamp in integer microseconds (UTC). Events are processed in the order
  given; an event never counts in its own features (except its own attributes), and earlier events
  with the same timestamp do. An event older than the latest one seen is processed at the latest
  time (the state's clock never goes back; ``late_events`` counts it). With ``max_lateness``,
  ``update`` refuses an event more than that behind the clock (``LateEventError``, nothing
  learnt; ``refused_late`` counts it); ``warm`` and ``replay`` learn every event.
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
  label count, and fraud rate = fraud labels / labels (NaN without labels). Any entity key can
  carry labels. Parity with the offline executor holds when labels are applied in time order,
  as ``warm`` does.
- Ratios divide one feature of the event by another: NaN when either is NaN or the divisor is 0.
- A label reaches the entities of its transaction through ``apply_label(..., event=txn)`` when
  the caller has the transaction (the service's ledger does), else through the store's claims
  on the transactions it learnt: the last ``remember`` of them (default 1,000,000, roughly 200
  bytes each), none older than the label horizon. A label of a transaction that is neither
  passed nor remembered is ignored.

State lives in a ``StateStore`` (``frisk.features.state``): the in-process ``MemoryStore`` by
default, or a ``RedisStore`` shared by several processes (``FRISK_STATE__URL``). The executor
starts each event at the store, which answers with the event's time and the records it touches,
computes, and hands the records back, one unit of work per event; it reaches nothing of the store
beyond that Protocol, so the semantics above are the same on every store (the contract suite
checks online == offline on each). On a shared store:

- Order across processes: an event takes its place in the history of every entity it touches
  when it starts, atomically (one Redis script): it is processed at its own time or, if any
  process started a later one first, at the clock's time, and it sees every event that started
  before it. So the features are those the memory store gives for the events in the order they
  started, and no event is ever computed twice: a process applies the events others added to
  an entity since it last saw it, from the entity's journal. Parity with the offline executor
  holds for events started in timestamp order. (On a Redis Cluster, where an event's entities
  live on several nodes, the clock is the process's own view of it: run one writer per key
  prefix there for order across processes.)
- A transaction is applied to each entity once: an event delivered again, to the same or another
  process, changes no state (a retry after a partial write on a cluster completes the missing
  entities). The in-process store leaves this to its caller (the engine answers a retried id
  from its memory and the ledger).
- A label reaches its transaction's entities through the ledger's record of the transaction
  when the engine has a ledger, else through the store's claim on it; a label queued by any
  process and due before an event is applied before it.
- Records expire by TTL, their lifetime (retention, or label horizon) plus an hour after their
  last change (up to 1/64 of it later: a process sets a TTL at most once per 1/128 of it); a record
  is read only while it is live in event time, so expiry never changes a feature.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from frisk.errors import (
    FeatureError,
    InvalidEventError,
    LateEventError,
)
from frisk.features.catalogue import Catalogue
from frisk.features.compiled import KeyRunner
from frisk.features.compiled_event import EventLayout, StepFunction, compile_event
from frisk.features.entity import Entity, Log, decode_label, encode_label
from frisk.features.numeric import NAN, units_of
from frisk.features.plan import LabelGroup, LabelPlan, compile_plan, label_groups
from frisk.features.state import AppliesChanges, SpaceSpec, StateLayout, StateStore
from frisk.features.stores.memory import MemoryStore

__all__ = ["OnlineFeatures"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_NAN = NAN
#: transactions remembered by default to route labels (about 200 bytes each)
DEFAULT_REMEMBER = 1_000_000


class OnlineFeatures:
    """Compute features event by event; ``update`` returns values in ``catalogue.names`` order."""

    def __init__(
        self,
        catalogue: Catalogue,
        store: StateStore | None = None,
        *,
        remember: int = DEFAULT_REMEMBER,
        max_lateness: int | None = None,
    ) -> None:
        self.catalogue = catalogue
        #: µs an event given to ``update`` may be behind the clock; None: no bound
        self.max_lateness = max_lateness
        #: events learnt at the clock's time because they were behind it; and those refused
        self.late_events = 0
        self.refused_late = 0
        #: how many transactions' claims the store keeps to route ``apply_label`` without ``event``
        self.remember = remember
        self.plan = plan = compile_plan(catalogue)
        self.store: StateStore = store if store is not None else MemoryStore()
        runners = tuple(KeyRunner(kp, plan.retention) for kp in plan.keys)
        self._labels: list[tuple[LabelPlan, list[LabelGroup]]] = [
            (lp, label_groups(lp)) for lp in plan.labels
        ]
        fields = {"amount"}
        for r in runners:
            fields |= set(r.fields) | {field for field, _, _ in r.distinct}
        self.layout = StateLayout(
            catalogue_version=catalogue.version,
            spaces=tuple(
                SpaceSpec(
                    f"key:{r.plan.key}",
                    _entity_expiry(r.retention),
                    False,
                    r.encode,
                    r.decode,
                    _entity_replay(r, plan.width),
                    r.retention,
                )
                for r in runners
            )
            + tuple(
                SpaceSpec(
                    _label_space(lp),
                    _label_expiry(lp.horizon),
                    True,
                    encode_label,
                    decode_label,
                    _label_replay(lp, groups),
                    lp.horizon,
                )
                for lp, groups in self._labels
            ),
            label_horizon=plan.label_horizon,
            remember=remember,
            event_fields=tuple(sorted(fields)),
        )
        self.store.open(self.layout)
        self._no_entities: tuple[None, ...] = (None,) * len(runners)
        # Every vector starts as the features of an event whose entities are all new: a new
        # entity then costs nothing but the creation of its state.
        template: list[Any] = [_NAN] * plan.width
        for runner in runners:
            for slot, value in runner.fresh:
                template[slot] = value
        for lp in plan.labels:
            for lw in lp.windows:
                for zero in (lw.count, lw.labelled):
                    if zero is not None:
                        template[zero] = 0.0
        events = EventLayout(plan, runners, template)
        #: ``step(event, t_event)``: everything ``update`` does once the event's time is known,
        #: as straight-line code generated for this plan (see ``compiled_event``); ``_peek`` the
        #: same for ``peek``, writing nothing
        self._step: StepFunction
        self._step, self.step_source = compile_event(events, self.store, self._apply_due)
        self._peek: StepFunction
        self._peek, _ = compile_event(events, self.store, self._apply_due, learn=False)

    @property
    def changes_applied(self) -> int:
        """Changes of other processes a shared store applied to this one's copies (0: none)."""
        store = self.store
        return store.replayed if isinstance(store, AppliesChanges) else 0

    def update(self, event: Mapping[str, Any]) -> list[float | str | None]:
        """The event's features before it, then learn it."""
        return self._process(event, commit=True, bounded=True)

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
        try:
            str(transaction_id).encode()
        except UnicodeEncodeError:
            raise InvalidEventError(
                "transaction_id", transaction_id, "must be text (no lone surrogates)"
            ) from None
        at = label_timestamp if isinstance(label_timestamp, int) else _micros(label_timestamp)
        known = None
        if event is not None:
            stamp = event.get("timestamp")
            if isinstance(stamp, datetime):
                stamp = _micros(stamp)
            if not isinstance(stamp, int):
                raise InvalidEventError("timestamp", stamp, "must be a timezone-aware datetime")
            known = self._label_keys(event, stamp)
        self.store.queue_label(at, str(transaction_id), int(label), known)

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
        """Write the whole state to ``path`` (tied to this catalogue's version).

        Only a store of this process has anything to snapshot (``MemoryStore``); a shared store
        keeps its state itself.
        """
        store = self.store
        if not isinstance(store, MemoryStore):
            raise FeatureError(f"{type(store).__name__} keeps its own state: nothing to snapshot")
        store.snapshot(path)

    @classmethod
    def restore(cls, path: Path, catalogue: Catalogue) -> OnlineFeatures:
        """An executor continuing from a snapshot taken with the same catalogue."""
        return cls(catalogue, MemoryStore.restore(Path(path), catalogue.version))

    def sweep(self) -> int:
        """Forget every entity idle past the retention (labels past their window); how many.

        ``update`` already lets the store do this a few keys at a time; a full sweep walks all
        the state at once.
        """
        return self.store.sweep()

    def _process(
        self,
        event: Mapping[str, Any],
        *,
        commit: bool,
        t_event: int | None = None,
        bounded: bool = False,
    ) -> list[float | str | None]:
        if t_event is None:
            stamp = event.get("timestamp")
            if not isinstance(stamp, datetime) or stamp.tzinfo is None:
                raise InvalidEventError("timestamp", stamp, "must be a timezone-aware datetime")
            t_event = (stamp - _EPOCH) // _ONE_US
        if not commit:
            return self._peek(event, t_event)
        late = self._late(event, t_event, bounded)
        vector = self._step(event, t_event)
        if late:
            self.late_events += 1
        return vector

    def _late(self, event: Mapping[str, Any], t_event: int, bounded: bool) -> bool:
        """Whether the event is behind the clock (learnt at the clock's time); past the bound,
        ``LateEventError``."""
        clock = self.store.clock
        if clock is None or t_event >= clock:
            return False
        bound = self.max_lateness
        if bounded and bound is not None and clock - t_event > bound:
            self.refused_late += 1
            raise LateEventError(
                "timestamp",
                event.get("timestamp"),
                f"{(clock - t_event) / 1e6:,.3f} s behind the feature state's clock "
                f"({datetime.fromtimestamp(clock / 1e6, UTC).isoformat()}); events more than "
                f"{bound / 1e6:,.3f} s late are refused (state.max_lateness); nothing was learnt",
            )
        return True

    def _label_keys(self, event: Mapping[str, Any], t: int) -> tuple[Any, ...]:
        keys = []
        for lp, _ in self._labels:
            values = [event.get(f) for f in lp.fields]
            missing = any(v is None for v in values)
            keys.append(None if missing else "\x1f".join(str(v) for v in values))
        return (t, *keys)

    def _apply_due(self, t: int) -> None:
        """Apply the labels that arrived before ``t`` to the label records of their keys."""
        horizon = self.plan.label_horizon
        store = self.store
        entities = self._no_entities
        for at, label, found in store.due_labels(t):
            if found is None or not found[0] <= at < found[0] + horizon:
                continue
            store.label(at, entities + found[1:], (label, found[0]))


def _label_space(lp: LabelPlan) -> str:
    """The state space of a label plan: one per key and clock."""
    return f"label:{lp.key}" if lp.clock == "arrival" else f"label_{lp.clock}:{lp.key}"


def _entity_expiry(retention: int) -> Callable[[Entity], int]:
    def expires_at(entity: Entity) -> int:
        return entity.last + retention

    return expires_at


def _entity_replay(runner: KeyRunner, width: int) -> Callable[[Any, int, Any], Any]:
    """An entity's record after one of its events at ``t``, exactly as ``step`` learns it."""
    scratch: list[Any] = [_NAN] * width  # the features are computed, and not wanted
    retention, run, create = runner.retention, runner.run, runner.create

    def replay(entity: Entity | None, t: int, event: Mapping[str, Any]) -> Entity:
        u = units_of(float(event["amount"]))
        if entity is not None and entity.last > t - retention:
            run(entity, event, t, u, scratch)
            return entity
        return create(event, t, u)

    return replay


def _label_replay(lp: LabelPlan, groups: list[LabelGroup]) -> Callable[[Any, int, Any], Any]:
    """A label record after a label arriving at ``at``: ``change`` is (label, the labelled
    transaction's time)."""
    horizon, by_event = lp.horizon, lp.clock == "event"

    def replay(record: list[Any] | None, at: int, change: Any) -> list[Any]:
        label, t_txn = change
        if record is None or record[0] <= at - horizon:
            record = [at, [Log(len(b)) for _, b, _ in groups]]
        record[0] = at
        for log, (res, buckets, _) in zip(record[1], groups, strict=True):
            log.expire(at // res, buckets)
            if by_event:  # at the labelled transaction's own bucket
                log.insert(t_txn // res, 1, label, 0)
            else:
                log.add(at // res, 1, label, 0)
        return record

    return replay


def _label_expiry(horizon: int) -> Callable[[list[Any]], int]:
    def expires_at(record: list[Any]) -> int:
        return int(record[0]) + horizon

    return expires_at


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
