"""Helpers for tests and benchmarks: random event streams and feature comparison.

``random_events`` makes small, adversarial canonical tables (few entities, timestamp ties, events
on window edges, long gaps, late labels, labels at the same instant as events, null devices);
``online_features`` runs the online executor over a table; ``mismatches`` compares two feature
frames with NaN == NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from frisk.data.table import conform
from frisk.features.catalogue import Catalogue
from frisk.features.online import OnlineFeatures, to_frame
from frisk.features.spec import DAY, HOUR, MINUTE
from frisk.features.state import StateStore

__all__ = ["hot_payee_events", "mismatches", "online_features", "random_events", "to_frame"]

_START = 1_700_000_000_000_000  # 2023-11-14, µs
# Offsets that land events on or next to window edges.
_EDGES = (0, 1, MINUTE * 10, MINUTE * 10 + 1, HOUR, HOUR - 1, HOUR + 1, DAY, 7 * DAY, 30 * DAY)


def hot_payee_events(seed: int, n: int, payers: int) -> tuple[pl.DataFrame, np.ndarray]:
    """``n`` events within an hour, of ``payers`` payers all paying the same three payees (five
    devices): a stream for concurrent writers, which meet on the hot payees. Also each event's
    payer number (``payer_id`` is ``p<number>``), to share the payers among writers."""
    rng = np.random.default_rng(seed)
    ts = _START + np.sort(rng.integers(0, HOUR, size=n))
    payer = rng.integers(0, payers, size=n)
    table = conform(
        pl.DataFrame(
            {
                "transaction_id": [f"t{i}" for i in range(n)],
                "timestamp": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
                "amount": np.round(rng.lognormal(3.0, 1.0, size=n), 2) + 0.01,
                "currency": "EUR",
                "payer_id": [f"p{v}" for v in payer],
                "payee_id": [f"m{v}" for v in rng.integers(0, 3, size=n)],
                "device_id": [f"d{v}" for v in rng.integers(0, 5, size=n)],
            }
        )
    )
    return table, payer


def random_events(
    seed: int,
    n: int = 300,
    *,
    payers: int = 6,
    payees: int = 5,
    devices: int = 4,
    extras: bool = True,
) -> pl.DataFrame:
    """A canonical event table of ``n`` events drawn to stress the feature semantics."""
    rng = np.random.default_rng(seed)
    steps = rng.choice(
        np.array([0, 0, 1, 10 * MINUTE, HOUR, 5 * MINUTE, DAY, 31 * DAY, 3 * HOUR], np.int64),
        size=n,
        p=[0.15, 0.05, 0.05, 0.15, 0.15, 0.2, 0.1, 0.03, 0.12],
    )
    jitter = rng.integers(0, 90 * MINUTE, size=n) * (rng.random(n) < 0.5)
    ts = _START + np.cumsum(steps + jitter)
    amount = np.round(rng.lognormal(3.0, 1.2, size=n), 2) + 0.01
    amount[rng.random(n) < 0.05] = 10.0  # repeated amounts: zero std, equal medians
    amount[::37] = 0.0  # card checks: zero means, medians and logs must stay defined
    device = rng.integers(0, devices, size=n).astype(str).astype(object)
    device[rng.random(n) < 0.15] = None
    label_ts = ts + rng.choice(np.array(_EDGES, np.int64), size=n) + rng.integers(0, 2, size=n)
    has_label = rng.random(n) < 0.4
    # Some labels arrive exactly when a later event happens.
    same = np.flatnonzero(has_label[:-5])
    label_ts[same[::3]] = ts[np.minimum(same[::3] + 3, n - 1)]
    label = (rng.random(n) < 0.3).astype(np.int8)
    frame: dict[str, Any] = {
        "transaction_id": [f"t{i}" for i in range(n)],
        "timestamp": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
        "amount": amount,
        "currency": rng.choice(["EUR", "USD", "INR"], size=n),
        "payer_id": [f"p{v}" for v in rng.integers(0, payers, size=n)],
        "payee_id": [f"m{v}" for v in rng.integers(0, payees, size=n)],
        "device_id": [None if d is None else f"d{d}" for d in device],
        "channel": rng.choice(["card", "upi", "wallet"], size=n),
        "merchant_category": pl.Series(_pick(rng, ["5411", "5999", None], n), dtype=pl.String),
        "payer_country": pl.Series(_pick(rng, ["IN", "DE", None], n), dtype=pl.String),
        "payee_country": rng.choice(["IN", "US"], size=n),
        "label": pl.Series(np.where(has_label, label, 0)).cast(pl.Int8),
        "label_timestamp": pl.Series(np.where(has_label, label_ts, 0)).cast(
            pl.Datetime("us", "UTC")
        ),
    }
    table = pl.DataFrame(frame).with_columns(
        pl.when(pl.Series(has_label)).then(pl.col("label_timestamp")).alias("label_timestamp")
    )
    if extras:
        score = rng.random(n)
        table = table.with_columns(
            pl.Series("risk_score", np.where(rng.random(n) < 0.1, np.nan, score)).fill_nan(None),
            pl.Series("segment", _pick(rng, ["gold", "basic", None], n), dtype=pl.String),
        )
    return conform(table)


def _pick(rng: np.random.Generator, choices: list[str | None], n: int) -> list[str | None]:
    return [choices[i] for i in rng.integers(0, len(choices), size=n)]


def online_features(
    table: pl.DataFrame, catalogue: Catalogue, store: StateStore | None = None
) -> pl.DataFrame:
    """Run ``OnlineFeatures`` over ``table`` (labels interleaved by arrival) into a frame, on
    ``store`` (a fresh ``MemoryStore`` by default)."""
    return OnlineFeatures(catalogue, store).replay(table)


def mismatches(
    left: pl.DataFrame, right: pl.DataFrame, rel: float = 1e-9, limit: int = 10
) -> list[str]:
    """Cells where two feature frames differ (NaN equals NaN; floats within ``rel``)."""
    problems: list[str] = []
    if left.columns != right.columns or left.height != right.height:
        return [f"shapes differ: {left.shape} {left.columns[:3]} vs {right.shape}"]
    ids = left.get_column(left.columns[0]).to_list()
    for name in left.columns[1:]:
        a, b = left.get_column(name).to_list(), right.get_column(name).to_list()
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if not _same(x, y, rel):
                problems.append(f"{name} at row {i} ({ids[i]}): {x!r} != {y!r}")
                if len(problems) >= limit:
                    return problems
    return problems


def _same(x: Any, y: Any, rel: float) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return x == y or abs(x - y) <= rel * max(abs(x), abs(y))
    return bool(x == y)
