"""The offline executor: every feature of every event of a table at once, point in time.

``compute_offline(table, catalogue)`` returns, for each row, exactly what ``OnlineFeatures``
returns for that event when it sees the table's events in order with each label applied at its
``label_timestamp`` (see ``frisk.features.online`` for the semantics both follow). The table must
be a canonical event table (time-sorted; ties in the order the events happened).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import polars as pl

from frisk.errors import FeatureError
from frisk.features.catalogue import Catalogue
from frisk.features.kernels import (
    F64,
    I64,
    KeyIndex,
    Prefix,
    combine_codes,
    cover_counts,
    field_codes,
)
from frisk.features.numeric import SCALE, log_amount, std_units_array, units_array
from frisk.features.plan import DistinctPlan, KeyPlan, LabelPlan, Plan, compile_plan
from frisk.features.spec import DAY, HOUR, KEYS

__all__ = ["compute_offline"]

_MICROS = 1e6
_FIELD_ORDER = ("payer_id", "payee_id", "device_id")
_PARTS = ("windows", "relative", "distinct")
_THREADS = int(os.environ.get("FRISK_FEATURE_THREADS", "0")) or min(4, os.cpu_count() or 1)


def compute_offline(table: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """Features of every row: ``transaction_id`` then ``catalogue.names``, rows as in ``table``."""
    plan = compile_plan(catalogue)
    _check(table, plan)
    ts = table.get_column("timestamp").to_physical().to_numpy().astype(np.int64)
    units = units_array(table.get_column("amount").to_numpy().astype(np.float64))
    run = _Run(table, plan, ts, units)
    # NumPy and the compiled loops release the GIL: keys run side by side.
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        run.prepare(pool)
        # Small tasks, the payer's parts first: the longest key no longer runs alone at the end.
        tasks: list[Callable[[], None]] = [
            partial(run.key_features, kp, part) for kp in plan.keys for part in _PARTS
        ]
        tasks += [partial(run.label_features, lp) for lp in plan.labels]
        tasks.append(run.event_features)
        for future in [pool.submit(task) for task in tasks]:
            future.result()
    run.ratio_features()
    columns = [table.get_column("transaction_id")]
    for slot, name in enumerate(plan.names):
        value = run.out[slot]
        assert value is not None, name
        columns.append(
            value.alias(name) if isinstance(value, pl.Series) else pl.Series(name, value)
        )
    return pl.DataFrame(columns)


def _check(table: pl.DataFrame, plan: Plan) -> None:
    needed = {"transaction_id", "timestamp", "amount"} | {f for k in KEYS.values() for f in k}
    missing = sorted(
        c for c in needed | {column for column, _, _ in plan.extras} if c not in table.columns
    )
    if missing:
        raise FeatureError(f"event table lacks column {missing[0]!r} needed by the features")
    if not table.get_column("timestamp").is_sorted():
        raise FeatureError("event table is not sorted by timestamp (use frisk.data.conform)")


class _Run:
    """Working state of one ``compute_offline`` call; caches what several features share."""

    def __init__(self, table: pl.DataFrame, plan: Plan, ts: I64, units: I64) -> None:
        self.table = table
        self.plan = plan
        self.ts = ts
        self.units = units
        self.n = table.height
        self.out: list[F64 | pl.Series | None] = [None] * plan.width
        self._codes: dict[tuple[str, ...], I64] = {}
        self._indexes: dict[tuple[str, ...], KeyIndex] = {}

    def prepare(self, pool: ThreadPoolExecutor) -> None:
        """Fill the caches the threads share, so that they only ever read them."""
        wanted: set[tuple[str, ...]] = {lp.fields for lp in self.plan.labels}
        for kp in self.plan.keys:
            wanted.add(kp.fields)
            wanted.update(_pair_fields(kp.fields, d.of) for d in kp.distinct)
        for fields in wanted:
            for field in fields:
                self.codes((field,))
            self.codes(fields)
        # One sort per entity key, shared by all its features and by the distinct counts that
        # pair it with another field.
        ordered = sorted(wanted)
        for fields, index in zip(ordered, pool.map(self._build_index, ordered), strict=True):
            self._indexes[fields] = index

    def _build_index(self, fields: tuple[str, ...]) -> KeyIndex:
        return KeyIndex.build(self.codes(fields), self.ts, self.plan.retention)

    def put(self, idx: KeyIndex, block: dict[int, F64]) -> None:
        """Columns by position -> output columns by row."""
        for slot, values in block.items():
            self.out[slot] = idx.scatter(values)

    def codes(self, fields: tuple[str, ...]) -> I64:
        if fields not in self._codes:
            if len(fields) == 1:
                self._codes[fields] = field_codes(self.table, fields[0])
            else:
                self._codes[fields] = combine_codes([self.codes((f,)) for f in fields])
        return self._codes[fields]

    def index(self, fields: tuple[str, ...]) -> KeyIndex:
        if fields not in self._indexes:
            self._indexes[fields] = self._build_index(fields)
        return self._indexes[fields]

    def key_features(self, kp: KeyPlan, part: str) -> None:
        """One part of a key's features: ``windows`` (with recency, age, novelty), ``distinct``
        or ``relative``; the parts share the key's index and write different columns."""
        # The compiled loops are imported where used: numba's import (~0.4 s) is then paid by
        # offline work only, not by the service or the CLI.
        from frisk.features import loops

        if (part == "distinct" and not kp.distinct) or (part == "relative" and not kp.relative):
            return
        idx = self.index(kp.fields)
        m = idx.order.size
        pos = np.arange(m, dtype=np.int64)
        block: dict[int, F64] = {}
        if part == "distinct":
            self._distinct(block, idx, kp)
            self.put(idx, block)
            return
        units = Prefix(self.units[idx.order])
        if part == "relative":
            for rp in kp.relative:
                start = np.maximum(pos - rp.n, idx.session_start)
                self._relative(block, idx, rp.n, rp.slots, units, start, pos)
            self.put(idx, block)
            return
        gap = np.empty(m, dtype=np.float64)
        gap[1:] = (idx.ts[1:] - idx.ts[:-1]).astype(np.float64) / _MICROS
        if kp.recency is not None:
            block[kp.recency] = np.where(idx.fresh, np.nan, gap)
        if kp.age is not None:
            age = (idx.ts - idx.ts[idx.session_start]).astype(np.float64) / _MICROS
            block[kp.age] = np.where(idx.fresh, np.nan, age)
        if kp.first_time is not None:
            block[kp.first_time] = idx.fresh.astype(np.float64)
        plans = [wp for _, windows in kp.logs for wp in windows]
        if plans:
            starts = loops.window_starts(
                idx.ts,
                idx.entity,
                np.array([wp.window.res for wp in plans], dtype=np.int64),
                np.array([wp.window.buckets for wp in plans], dtype=np.int64),
            )
            for wp, start in zip(plans, starts, strict=True):
                self._aggregates(block, wp.slots, units, start, pos)
        self.put(idx, block)

    def _aggregates(
        self, block: dict[int, F64], slots: dict[str, int], units: Prefix, start: I64, stop: I64
    ) -> None:
        from frisk.features import loops

        count = stop - start
        total = units.window(start, stop) if {"sum", "mean", "std"} & set(slots) else None
        with np.errstate(divide="ignore", invalid="ignore"):
            for agg, slot in slots.items():
                if agg == "count":
                    value = count.astype(np.float64)
                elif agg == "sum" and total is not None:
                    value = total.astype(np.float64) / SCALE
                elif agg == "mean" and total is not None:
                    value = np.where(count > 0, total.astype(np.float64) / count / SCALE, np.nan)
                elif agg == "max":
                    top = loops.sliding_max(units.values, start)
                    value = np.where(top >= 0, top.astype(np.float64) / SCALE, np.nan)
                elif agg == "std" and total is not None:
                    hi, lo = units.squares(start, stop)
                    value = std_units_array(count, total, hi, lo) / SCALE
                else:  # pragma: no cover - the catalogue only admits the aggregates above
                    raise FeatureError(f"aggregate {agg!r} is unknown")
                block[slot] = value

    def _distinct(self, block: dict[int, F64], idx: KeyIndex, kp: KeyPlan) -> None:
        # Each occurrence of a value covers the positions after it until its bucket leaves the
        # window, or until the value occurs again (that occurrence takes over). The next
        # occurrence of the same (entity, value) comes from the index of the pair, already
        # sorted by (pair, row): no sort here, one per pair of fields for all windows.
        from frisk.features import loops

        m = idx.order.size
        position_of_row = np.full(self.n, -1, dtype=np.int64)
        position_of_row[idx.order] = np.arange(m, dtype=np.int64)
        by_field: dict[str, list[DistinctPlan]] = {}
        for dp in kp.distinct:
            by_field.setdefault(dp.of, []).append(dp)
        for of, plans in by_field.items():
            pair = self.index(_pair_fields(kp.fields, of))
            occurrence = position_of_row[pair.order]
            following = np.full(occurrence.size, m, dtype=np.int64)
            same = pair.entity[1:] == pair.entity[:-1]
            following[:-1][same] = occurrence[1:][same] + 1
            for dp in plans:
                leave = loops.leave_positions(idx.ts, idx.entity, dp.window.res, dp.window.buckets)
                counts = loops.distinct_counts(m, occurrence, following, leave)
                block[dp.slot] = counts.astype(np.float64)

    def _relative(
        self,
        block: dict[int, F64],
        idx: KeyIndex,
        n: int,
        slots: dict[str, int],
        units: Prefix,
        start: I64,
        pos: I64,
    ) -> None:
        from frisk.features import loops

        count = pos - start
        total = units.window(start, pos)
        u = units.values.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total.astype(np.float64) / count
            for agg, slot in slots.items():
                if agg == "ratio_mean":
                    value = np.where((count > 0) & (total > 0), u / mean, np.nan)
                elif agg == "zscore":
                    hi, lo = units.squares(start, pos)
                    std = std_units_array(count, total, hi, lo)
                    value = np.where(std > 0, (u - mean) / std, np.nan)
                else:
                    twice = loops.previous_median2(units.values, idx.fresh, n)
                    median = np.where(twice >= 0, twice.astype(np.float64) / 2.0, np.nan)
                    value = np.where(median > 0, u / median, np.nan)
                block[slot] = value

    def label_features(self, lp: LabelPlan) -> None:
        # A label of transaction T (at t_T) arriving at L is seen by the events after L (rows from
        # searchsorted(ts, L, "right")) whose bucket is within K buckets of L's.
        idx = self.index(lp.fields)
        m = idx.order.size
        codes = self.codes(lp.fields)
        label = self.table.get_column("label").fill_null(-1).to_numpy().astype(np.int64)
        arrival_col = self.table.get_column("label_timestamp").to_physical()
        has_label = (label >= 0) & arrival_col.is_not_null().to_numpy() & (codes >= 0)
        arrival = arrival_col.fill_null(0).to_numpy().astype(np.int64)
        rows = np.flatnonzero(
            has_label & (arrival >= self.ts) & (arrival < self.ts + self.plan.label_horizon)
        )
        entity_of_row = np.full(self.n, -1, dtype=np.int64)
        entity_of_row[idx.order] = idx.entity
        entity = entity_of_row[rows]
        at = arrival[rows]
        first = idx.position_of(entity, np.searchsorted(self.ts, at, side="right"))
        fraud = (label[rows] == 1).astype(np.int64)
        # The window's clock: the label's arrival, or the labelled transaction's own time. Either
        # way the label counts from just after its arrival until its clock leaves the window.
        clock = at if lp.clock == "arrival" else self.ts[rows]
        block: dict[int, F64] = {}
        for lw in lp.windows:
            window = lw.window
            leave_at = (clock // window.res + window.buckets) * window.res
            stop = idx.position_of(entity, np.searchsorted(self.ts, leave_at, side="left"))
            frauds = cover_counts(m, first, stop, fraud)
            labels = cover_counts(m, first, stop)
            if lw.count is not None:
                block[lw.count] = frauds.astype(np.float64)
            if lw.labelled is not None:
                block[lw.labelled] = labels.astype(np.float64)
            if lw.rate is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    rate = np.where(labels > 0, frauds / labels, np.nan)
                block[lw.rate] = rate
        self.put(idx, block)

    def ratio_features(self) -> None:
        # As online: NaN when either side is NaN or the denominator is 0; IEEE division.
        for slot, num, den in self.plan.ratios:
            a = np.asarray(self.out[num], dtype=np.float64)
            b = np.asarray(self.out[den], dtype=np.float64)
            ok = (b != 0.0) & ~np.isnan(a) & ~np.isnan(b)
            with np.errstate(divide="ignore", invalid="ignore"):
                self.out[slot] = np.where(ok, a / np.where(ok, b, 1.0), np.nan)

    def event_features(self) -> None:
        ts = self.ts
        hour = (ts // HOUR) % 24
        weekday = (ts // DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        calendar = {
            "hour_of_day": hour,
            "day_of_week": weekday,
            "is_night": hour < 6,
            "is_weekend": weekday >= 5,
        }
        for name, slot in self.plan.calendar.items():
            self.out[slot] = calendar[name].astype(np.float64)
        amount = self.table.get_column("amount")
        for name, slot in self.plan.attributes.items():
            if name == "amount":
                self.out[slot] = amount.to_numpy().astype(np.float64)
            elif name == "log_amount":
                self.out[slot] = np.fromiter(map(log_amount, amount.to_list()), np.float64, self.n)
            elif name == "is_cross_border":
                cross = self.table.select(
                    (pl.col("payer_country") != pl.col("payee_country")).cast(pl.Float64)
                ).to_series()
                self.out[slot] = cross.fill_null(np.nan).to_numpy()
            else:
                self.out[slot] = self.table.get_column(name).cast(pl.String)
        for column, slot, categorical in self.plan.extras:
            series = self.table.get_column(column)
            if categorical:
                self.out[slot] = series.cast(pl.String)
            else:
                self.out[slot] = series.cast(pl.Float64).fill_null(np.nan).to_numpy()


def _pair_fields(fields: tuple[str, ...], of: str) -> tuple[str, ...]:
    """The fields of an entity key and a counted field, in the order of the pair keys' fields
    (so that distinct payees by payer share the sort of ``payer_payee``)."""
    return tuple(f for f in _FIELD_ORDER if f in fields or f == of)
