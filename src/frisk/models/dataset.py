"""The feature matrix a booster reads, and the time-ordered selection of training rows.

A features frame (``transaction_id`` + one column per feature) becomes one float64 matrix:
numeric features as they are (null -> nan), categorical features as vocabulary codes. Scoring and
training share ``to_matrix`` so a model never sees one encoding in training and another in service.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from frisk.errors import ModelError
from frisk.models.encoding import CategoryEncoder

__all__ = ["FeatureSpec", "TimeSplit", "time_split", "to_matrix", "window_mask"]

Matrix = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """The features a model reads, in matrix column order, and which of them are strings."""

    names: tuple[str, ...]
    categorical: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [c for c in self.categorical if c not in self.names]
        if unknown:
            raise ModelError(f"categorical feature(s) not among the features: {unknown}")
        if len(set(self.names)) != len(self.names):
            raise ModelError("feature names repeat")

    @property
    def categorical_indices(self) -> list[int]:
        return [self.names.index(c) for c in self.categorical]

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "categorical": list(self.categorical)}


def to_matrix(frame: pl.DataFrame, spec: FeatureSpec, encoder: CategoryEncoder) -> Matrix:
    """The float64 matrix of ``frame``'s features in ``spec`` order, column-major.

    Column-major is how Polars lays a frame out and LightGBM (>= 4) reads it as such: making it
    row-major first copied ~0.7 GB and took 1.8 s for 1M rows x 90 features.

    Extra columns of ``frame`` are ignored; a missing feature column raises ``ModelError``.
    """
    missing = [n for n in spec.names if n not in frame.columns]
    if missing:
        raise ModelError(f"feature frame lacks column(s): {', '.join(missing)}")
    categorical = set(spec.categorical)
    exprs: list[pl.Expr] = []
    for name in spec.names:
        if name in categorical:
            exprs.append(encoder.expression(name))
        else:
            exprs.append(_numeric(frame.schema[name], pl.col(name), name))
    if not exprs:
        return np.empty((frame.height, 0), dtype=np.float64)
    selected = frame.select(exprs)
    return np.asarray(selected.to_numpy(order="fortran"), dtype=np.float64)


def window_mask(
    timestamps: pl.Series, start: datetime | None = None, end: datetime | None = None
) -> Mask:
    """Rows with ``start <= timestamp < end``; an open bound selects everything on its side."""
    keep = pl.repeat(True, timestamps.len(), eager=True)
    if start is not None:
        keep = keep & (timestamps >= start)
    if end is not None:
        keep = keep & (timestamps < end)
    return keep.fill_null(False).to_numpy().astype(np.bool_, copy=False)


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Row positions of the fit, early-stopping and calibration parts, in time order."""

    fit: npt.NDArray[np.int64]
    stop: npt.NDArray[np.int64]
    calibrate: npt.NDArray[np.int64]

    @property
    def holdout(self) -> npt.NDArray[np.int64]:
        return np.concatenate((self.stop, self.calibrate))


def time_split(
    timestamps: npt.NDArray[np.int64] | Sequence[int],
    rows: npt.NDArray[np.int64],
    holdout: float = 0.2,
    calibration_share: float = 0.5,
) -> TimeSplit:
    """Split ``rows`` (positions, time-ordered) into fit / early-stop / calibration by time.

    The last ``holdout`` share of rows by time is held out; its first ``1 - calibration_share``
    stops boosting early and its rest fits the calibrator. Cuts fall on timestamp boundaries, so
    events of the same instant never land on both sides; nothing is shuffled across time.
    """
    if not 0.0 < holdout < 1.0:
        raise ModelError(f"holdout share {holdout!r}: expected a share in (0, 1)")
    if not 0.0 < calibration_share < 1.0:
        raise ModelError(f"calibration share {calibration_share!r}: expected a share in (0, 1)")
    ts = np.asarray(timestamps, dtype=np.int64)[rows]
    if ts.size and np.any(np.diff(ts) < 0):
        raise ModelError("training rows are not in time order")
    n = ts.size
    first_holdout = _boundary(ts, math.floor(n * (1.0 - holdout)))
    first_calibration = _boundary(
        ts, first_holdout + math.floor((n - first_holdout) * (1.0 - calibration_share))
    )
    parts = (rows[:first_holdout], rows[first_holdout:first_calibration], rows[first_calibration:])
    if any(part.size == 0 for part in parts):
        raise ModelError(
            f"{n} training row(s) cannot be split by time into fit, early-stopping and "
            "calibration parts; widen the training window"
        )
    return TimeSplit(*parts)


def _boundary(ts: npt.NDArray[np.int64], position: int) -> int:
    """The first position at or after ``position`` where a new timestamp starts."""
    if position <= 0 or position >= ts.size:
        return max(0, min(position, ts.size))
    return int(np.searchsorted(ts, ts[position], side="left")) or int(
        np.searchsorted(ts, ts[position], side="right")
    )


def _numeric(dtype: pl.DataType, column: pl.Expr, name: str) -> pl.Expr:
    if dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null:
        return column.cast(pl.Float64).fill_null(math.nan).alias(name)
    raise ModelError(
        f"feature {name!r} has type {dtype}, expected a number; declare string features categorical"
    )
