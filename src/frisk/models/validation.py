"""Rolling-origin validation: the number of trees and honest out-of-time margins from little data.

With a single time split the most recent days either never train the model (they validate it)
or never validate it, and with a week of data both parts are too small: early stopping on ~7k
rows of one day stopped at noise. Rolling origin instead cuts the last ``share`` of the training
rows (by time) into ``folds`` consecutive blocks; fold ``k`` trains on every row before block
``k`` and is scored on block ``k``. Each block is predicted only by a model that never saw it or
anything after it, as production would. The folds' average precision per boosting round, averaged,
picks the number of trees; the booster is then refitted on every row with that many trees, so the
most recent days train the model that is shipped. The blocks' margins (each from its own fold's
model, cut at the chosen number of trees) fit the calibrator and the thresholds: together they
hold every fraud of the last ``share`` of the window, not the last tenth only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from frisk.errors import ModelError

__all__ = ["Fold", "average_curve", "rolling_folds"]

Rows = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Fold:
    """One origin: train on ``train`` (every earlier row), validate on ``valid``."""

    train: Rows
    valid: Rows


def rolling_folds(
    timestamps: npt.NDArray[np.int64], rows: Rows, share: float, folds: int
) -> list[Fold]:
    """``folds`` rolling origins over the last ``share`` of ``rows`` (time-ordered positions).

    Cuts fall on timestamp boundaries (events of one instant stay on one side). Raises
    ``ModelError`` when a block or the first training part would be empty.
    """
    if not 0.0 < share < 1.0:
        raise ModelError(f"validation share {share!r}: expected a share in (0, 1)")
    if folds < 1:
        raise ModelError(f"validation folds {folds!r}: expected at least 1")
    ts = np.asarray(timestamps, dtype=np.int64)[rows]
    if ts.size and np.any(np.diff(ts) < 0):
        raise ModelError("training rows are not in time order")
    n = ts.size
    first = _boundary(ts, math.floor(n * (1.0 - share)))
    cuts = [_boundary(ts, first + math.floor((n - first) * k / folds)) for k in range(folds)]
    cuts.append(n)
    found = [
        Fold(rows[: cuts[k]], rows[cuts[k] : cuts[k + 1]])
        for k in range(folds)
        if cuts[k + 1] > cuts[k]
    ]
    if not found or found[0].train.size == 0:
        raise ModelError(
            f"{n} training row(s) cannot be split by time into {folds} rolling validation "
            "folds; widen the training window"
        )
    return found


def average_curve(curves: list[list[float]]) -> list[float]:
    """The mean of per-fold metric curves, round by round.

    A fold that stopped early is taken to stay at its last value (its early stopping saw no gain
    after it); rounds where a fold has no value at all (NaN: no fraud in its block) skip it.
    """
    usable = [c for c in curves if c]
    if not usable:
        return []
    length = max(len(c) for c in usable)
    table = np.full((len(usable), length), np.nan)
    for i, curve in enumerate(usable):
        table[i, : len(curve)] = curve
        table[i, len(curve) :] = curve[-1]
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(table), axis=0)
        sums = np.nansum(table, axis=0)
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return [float(v) for v in mean]


def _boundary(ts: npt.NDArray[np.int64], position: int) -> int:
    """The first position at or after ``position`` where a new timestamp starts."""
    if position <= 0 or position >= ts.size:
        return max(0, min(position, ts.size))
    return int(np.searchsorted(ts, ts[position], side="left")) or int(
        np.searchsorted(ts, ts[position], side="right")
    )
