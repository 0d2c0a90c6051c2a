"""Online == offline for every feature of the default catalogue, at every event.

Also checks both against a brute-force reading of the documented semantics, and that no feature
of an event depends on anything at or after its time (no leakage).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frisk.data.table import conform
from frisk.features import Catalogue, compute_offline, resolve_catalogue
from frisk.features.spec import DAY, ENTITY_FIELDS, HOUR, KEYS, MINUTE
from frisk.features.testing import mismatches, online_features, random_events

# Both executors compute from the same exact integers with the same float operations; the
# documented tolerance is 1e-9 relative, the observed difference is zero.
REL = 1e-9
_START = 1_700_000_000_000_000


@pytest.mark.parametrize("seed", range(4))
def test_online_equals_offline_on_generated_streams(seed: int) -> None:
    table = random_events(seed, 300)
    catalogue = resolve_catalogue("default", table)
    offline = compute_offline(table, catalogue)
    assert offline.columns == ["transaction_id", *catalogue.names]
    assert mismatches(offline, online_features(table, catalogue), REL) == []


@pytest.mark.parametrize("seed", [11, 12])
def test_offline_matches_the_documented_semantics(seed: int) -> None:
    table = random_events(seed, 220)
    catalogue = resolve_catalogue("default", table)
    offline = compute_offline(table, catalogue)
    for name, expected in _brute_force(table, catalogue).items():
        got = offline.get_column(name).to_list()
        bad = [
            (i, e, g)
            for i, (e, g) in enumerate(zip(expected, got, strict=True))
            if not _close(e, g)
        ]
        assert bad == [], f"{name}: first (row, expected, got) {bad[:3]}"


_STEPS = st.sampled_from(
    [
        0,
        0,
        1,
        MINUTE,
        10 * MINUTE,
        10 * MINUTE + 1,
        HOUR - 1,
        HOUR,
        HOUR + 1,
        23 * HOUR,
        DAY,
        7 * DAY,
        30 * DAY,
        31 * DAY,
    ]
)
_DELAYS = st.sampled_from([None, None, 0, 1, HOUR, DAY, 30 * DAY, 200 * DAY, -1])
_EVENT = st.tuples(
    _STEPS,
    st.integers(0, 3),  # payer
    st.integers(0, 2),  # payee
    st.one_of(st.none(), st.integers(0, 2)),  # device
    st.sampled_from([0.0, 0.004, 0.01, 1.0, 9.99, 10.0, 250.5, 12_000.0, 3e7]),
    _DELAYS,
    st.booleans(),  # fraud
)


def _stream(events: list[tuple[Any, ...]]) -> pl.DataFrame:
    t = _START
    rows = []
    for i, (step, payer, payee, device, amount, delay, fraud) in enumerate(events):
        t += step
        at = None if delay is None else t + delay
        rows.append(
            {
                "transaction_id": f"t{i}",
                "timestamp": t,
                "amount": amount,
                "currency": "EUR",
                "payer_id": f"p{payer}",
                "payee_id": f"m{payee}",
                "device_id": None if device is None else f"d{device}",
                "label": None if at is None else int(fraud),
                "label_timestamp": at,
            }
        )
    frame = pl.DataFrame(rows, schema_overrides={"label_timestamp": pl.Int64}).with_columns(
        pl.col("timestamp", "label_timestamp").cast(pl.Datetime("us", "UTC"))
    )
    return conform(frame)


_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.lists(_EVENT, min_size=1, max_size=40))
def test_parity_on_hypothesis_streams(events: list[tuple[Any, ...]]) -> None:
    table = _stream(events)
    catalogue = resolve_catalogue("default", table)
    assert (
        mismatches(compute_offline(table, catalogue), online_features(table, catalogue), REL) == []
    )


@_SETTINGS
@given(st.lists(_EVENT, min_size=2, max_size=40), st.data())
def test_no_leakage_from_the_future(events: list[tuple[Any, ...]], data: st.DataObject) -> None:
    table = _stream(events)
    catalogue = resolve_catalogue("default", table)
    cut = data.draw(st.integers(0, table.height - 1))
    t = table.get_column("timestamp")[cut]
    future = pl.col("timestamp") >= t
    drop = data.draw(st.booleans())
    changed = table.with_columns(
        pl.when(future).then(pl.col("amount") * 3 + 1).otherwise(pl.col("amount")),
        pl.when(pl.col("label_timestamp") >= t)
        .then(1 - pl.col("label"))
        .otherwise(pl.col("label"))
        .alias("label"),
    )
    if drop:
        changed = changed.filter(~future | (pl.int_range(pl.len()) % 2 == 0))
    before = table.filter(pl.col("timestamp") < t).height
    left = compute_offline(table, catalogue).head(before)
    right = compute_offline(changed, catalogue).head(before)
    assert mismatches(left, right, 0.0) == []


def test_parity_on_a_long_dense_stream() -> None:
    """Histories long enough for the online state to drop its dead prefixes (logs of both
    resolutions and distinct lists compact)."""
    rng = np.random.default_rng(3)
    n = 4000
    ts = _START + np.cumsum(
        rng.choice(np.array([0, 1, MINUTE, 20 * MINUTE, HOUR, 3 * HOUR]), size=n)
    )
    delay = rng.choice(np.array([0, HOUR, DAY, 40 * DAY]), size=n)
    labelled = rng.random(n) < 0.3
    frame = pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "timestamp": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "amount": np.round(rng.lognormal(3.0, 1.0, size=n), 2) + 0.01,
            "currency": "EUR",
            "payer_id": [f"p{v}" for v in rng.integers(0, 3, size=n)],
            "payee_id": [f"m{v}" for v in rng.integers(0, 200, size=n)],
            "device_id": [f"d{v}" for v in rng.integers(0, 150, size=n)],
            "label": pl.Series(np.where(labelled, rng.random(n) < 0.4, 0)).cast(pl.Int8),
            "label_timestamp": pl.Series(np.where(labelled, ts + delay, 0)).cast(
                pl.Datetime("us", "UTC")
            ),
        }
    ).with_columns(
        pl.when(pl.Series(labelled)).then(pl.col("label_timestamp")).alias("label_timestamp")
    )
    table = conform(frame)
    catalogue = resolve_catalogue("default", table)
    offline = compute_offline(table, catalogue)
    assert mismatches(offline, online_features(table, catalogue), REL) == []


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= REL * max(abs(a), abs(b))


def _brute_force(table: pl.DataFrame, catalogue: Catalogue) -> dict[str, list[float]]:
    """Each feature straight from its definition, by scanning the history of every row."""
    rows = table.with_columns(
        pl.col("timestamp").to_physical().alias("_t"),
        pl.col("label_timestamp").to_physical().alias("_l"),
    ).to_dicts()

    def key(row: dict[str, Any], k: str) -> tuple[Any, ...] | None:
        values = tuple(row[f] for f in KEYS[k])
        return None if any(v is None for v in values) else values

    def cents(amount: float) -> int:
        return min(round(amount * 100), 2**42 - 1)

    out: dict[str, list[float]] = {}
    for spec in catalogue.specs:
        if spec.kind in ("calendar", "attribute", "extra", "ratio"):
            continue
        column = []
        for i, row in enumerate(rows):
            t = row["_t"]
            k = key(row, spec.key)
            if k is None:
                column.append(math.nan)
                continue
            history = [q for q in rows[:i] if key(q, spec.key) == k]
            session: list[dict[str, Any]] = []  # history since the entity was last forgotten
            last = t
            for q in reversed(history):
                if last - q["_t"] >= catalogue.retention:
                    break
                session.insert(0, q)
                last = q["_t"]
            w = spec.window
            low = (t // w.res - w.buckets + 1) * w.res if w is not None else 0
            column.append(
                float(
                    _reference(
                        spec, row, rows, history, session, low, t, cents, catalogue.label_horizon
                    )
                )
            )
        out[spec.name] = column
    return out


def _reference(
    spec: Any,
    row: dict[str, Any],
    rows: list[dict[str, Any]],
    history: list[dict[str, Any]],
    session: list[dict[str, Any]],
    low: int,
    t: int,
    cents: Any,
    horizon: int,
) -> float:
    if spec.kind == "window":
        xs = [cents(q["amount"]) for q in history if q["_t"] >= low]
        n = len(xs)
        return {
            "count": float(n),
            "sum": sum(xs) / 100,
            "mean": sum(xs) / n / 100 if n else math.nan,
            "max": max(xs) / 100 if n else math.nan,
            "std": statistics.stdev(xs) / 100 if n >= 2 else math.nan,
        }[spec.agg]
    if spec.kind == "distinct":
        field = ENTITY_FIELDS[spec.of]
        return len({q[field] for q in history if q["_t"] >= low and q[field] is not None})
    if spec.kind == "recency":
        return (t - session[-1]["_t"]) / 1e6 if session else math.nan
    if spec.kind == "age":
        return (t - session[0]["_t"]) / 1e6 if session else math.nan
    if spec.kind == "first_time":
        return 0.0 if session else 1.0
    if spec.kind == "relative":
        xs = [cents(q["amount"]) for q in session[-spec.n :]]
        u = cents(row["amount"])
        if spec.agg == "ratio_mean":
            return u / (sum(xs) / len(xs)) if xs and sum(xs) > 0 else math.nan
        if spec.agg == "ratio_median":
            median = statistics.median(xs) if xs else 0
            return u / median if median > 0 else math.nan
        sd = statistics.stdev(xs) if len(xs) >= 2 else 0
        return (u - statistics.mean(xs)) / sd if sd > 0 else math.nan
    # label: arrived strictly before t; in the window by its arrival or by its transaction's time
    fields = KEYS[spec.key]
    clock = "_t" if spec.clock == "event" else "_l"
    labels = [
        q
        for q in rows
        if all(q[f] == row[f] for f in fields)
        and q["_l"] is not None
        and q["label"] is not None
        and q["_t"] <= q["_l"] < q["_t"] + horizon
        and q["_l"] < t
        and low <= q[clock]
    ]
    frauds = sum(1 for q in labels if q["label"] == 1)
    if spec.agg == "count":
        return frauds
    if spec.agg == "labelled":
        return len(labels)
    return frauds / len(labels) if labels else math.nan
