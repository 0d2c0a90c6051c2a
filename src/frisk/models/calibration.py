"""Probability calibration of raw booster margins, fitted on held-out time.

The calibrator maps a raw margin (log-odds under the training weights) to a probability. Serving
needs only ``np.interp`` over two stored arrays, never scikit-learn:

- ``isotonic`` when the calibration period has enough frauds: isotonic regression, then linear
  interpolation between the centres of its constant blocks ("centred isotonic"). The plain step
  function would tie every event of a block and blur the ranking exactly where alerts are cut.
- ``beta`` when there are fewer frauds than isotonic regression needs (``MIN_ISOTONIC_FRAUDS``):
  beta calibration (Kull et al., 2017), a logistic fit of the label on ``log p`` and
  ``-log(1 - p)`` with ``p`` the logistic of the margin, tabulated on a grid of margins. Three
  parameters: smooth and monotone (both slopes >= 0, checked), and unlike Platt's two it can bend
  differently at the low and the high end. Isotonic regression on a few dozen frauds follows
  their noise in steps (a week of data gave 54 frauds to calibrate on).
- ``platt`` when the beta fit is not monotone: a logistic fit of the label on the margin.
- ``prior`` when there are none: only undo the class weighting, ``odds / pos_weight``.

All three are monotone and stay inside [0, 1]. Two refinements:

- isotonic block values are smoothed, ``(frauds + 0.5) / (events + 1)``: a top block of 30 frauds
  out of 30 says "very likely", not "certain"; a probability of exactly 1 would also make the block
  threshold meaningless.
- ``TIE_BREAK`` (1e-6) of the output is the plain logistic of the margin, so scores stay strictly
  increasing in the margin inside flat stretches and the booster's ranking survives calibration;
  no probability moves by more than 1e-6.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from frisk.errors import ArtifactError, ModelError

__all__ = ["Calibrator", "interp_one"]

Method = Literal["isotonic", "beta", "platt", "prior"]
METHODS: Final = ("isotonic", "beta", "platt", "prior")
Floats = npt.NDArray[np.float64]

# Below this many frauds isotonic regression follows noise; beta's three parameters do not. Its
# steps are ~frauds / 10 blocks wide at the top: 300 frauds keep each top block tens of frauds.
MIN_ISOTONIC_FRAUDS: Final = 300
MIN_PLATT_FRAUDS: Final = 5
_GRID: Final = np.linspace(-20.0, 20.0, 401)
TIE_BREAK: Final = 1e-6


class Calibrator:
    """Margin -> probability, learnt from held-out margins and labels."""

    # ``one``'s lists of the arrays it was made from (``_lists``).
    _cached_lists: tuple[Floats, Floats, list[float], list[float]] | None = None

    def __init__(
        self,
        min_isotonic_frauds: int = MIN_ISOTONIC_FRAUDS,
        min_platt_frauds: int = MIN_PLATT_FRAUDS,
    ) -> None:
        self.min_isotonic_frauds = min_isotonic_frauds
        self.min_platt_frauds = min_platt_frauds

    def fit(
        self, margins: npt.ArrayLike, labels: npt.ArrayLike, pos_weight: float = 1.0
    ) -> Calibrator:
        """Fit on held-out margins and 0/1 labels; ``pos_weight``: the training fraud weight."""
        x = np.asarray(margins, dtype=np.float64).ravel()
        y = np.asarray(labels, dtype=np.float64).ravel()
        if x.size != y.size:
            raise ModelError(f"{x.size} margins for {y.size} labels")
        if not np.isfinite(x).all():
            raise ModelError("calibration margins contain nan or inf")
        frauds = int(y.sum())
        method: Method
        if frauds >= self.min_isotonic_frauds and frauds < y.size:
            method, knots, values = "isotonic", *_centred_isotonic(x, y)
        elif frauds >= self.min_platt_frauds and frauds < y.size:
            beta = _beta(x, y)
            if beta is not None:
                method, knots, values = "beta", _GRID, beta(_GRID)
            else:
                method, knots, values = "platt", _GRID, _platt(x, y)(_GRID)
        else:
            # odds under weighting w are w times the true odds: divide them back out.
            method, knots = "prior", _GRID
            values = _sigmoid(_GRID - np.log(pos_weight))
        if knots.size < 2:  # every margin equal: a constant
            knots, values = np.array([knots[0] - 1.0, knots[0] + 1.0]), np.repeat(values[:1], 2)
        self.method_: Method = method
        self.knots_: Floats = np.asarray(knots, dtype=np.float64)
        self.values_: Floats = np.clip(np.maximum.accumulate(values), 0.0, 1.0)
        self.frauds_ = frauds
        self.events_ = int(y.size)
        return self

    def transform(self, margins: npt.ArrayLike) -> Floats:
        """Calibrated probabilities of raw margins."""
        m = np.asarray(margins, dtype=np.float64)
        p = np.interp(m, self.knots_, self.values_)
        return np.asarray((1.0 - TIE_BREAK) * p + TIE_BREAK * _sigmoid(m), dtype=np.float64)

    def one(self, margin: float) -> float:
        """``transform`` of one margin (the scoring path's), in plain Python: ``np.interp`` of one
        value cost ~2 µs, mostly its call; ``interp_one`` is the same arithmetic (the same float to
        the last bit, tested) in ~0.5 µs."""
        x = float(margin)
        knots, values = self._lists()
        p = interp_one(x, knots, values)
        return (1.0 - TIE_BREAK) * p + TIE_BREAK * 0.5 * (1.0 + math.tanh(0.5 * x))

    def _lists(self) -> tuple[list[float], list[float]]:
        """``knots_`` and ``values_`` as lists, made again when either array is replaced."""
        cached = self._cached_lists
        if cached is None or cached[0] is not self.knots_ or cached[1] is not self.values_:
            cached = (self.knots_, self.values_, self.knots_.tolist(), self.values_.tolist())
            self._cached_lists = cached
        return cached[2], cached[3]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method_,
            "knots": self.knots_.tolist(),
            "values": self.values_.tolist(),
            "frauds": self.frauds_,
            "events": self.events_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """Rebuild a fitted calibrator; raises ``ArtifactError`` when the arrays are unusable."""
        try:
            knots = np.asarray(data["knots"], dtype=np.float64)
            values = np.asarray(data["values"], dtype=np.float64)
            method = data["method"]
            frauds, events = int(data["frauds"]), int(data["events"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"calibration is malformed: {exc!r}") from exc
        problem = _check(knots, values)
        if problem or method not in METHODS:
            raise ArtifactError(f"calibration is malformed: {problem or f'method {method!r}'}")
        calibrator = cls()
        calibrator.method_ = method
        calibrator.knots_, calibrator.values_ = knots, values
        calibrator.frauds_, calibrator.events_ = frauds, events
        return calibrator


def _centred_isotonic(x: Floats, y: Floats) -> tuple[Floats, Floats]:
    from sklearn.isotonic import IsotonicRegression  # training only; serving needs numpy alone

    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit_transform(xs, ys)
    # Blocks are runs of equal fitted value; each becomes one knot at its mean margin.
    starts = np.flatnonzero(np.concatenate(([True], fitted[1:] != fitted[:-1])))
    sizes = np.diff(np.append(starts, xs.size))
    centres = np.add.reduceat(xs, starts) / sizes
    # Smoothed block rates (see the module docstring), made monotone again by the caller.
    values = (np.add.reduceat(ys, starts) + 0.5) / (sizes + 1.0)
    # The outermost blocks keep their value up to their outermost margin.
    knots = np.concatenate(([xs[0]], centres, [xs[-1]]))
    values = np.concatenate(([values[0]], values, [values[-1]]))
    keep = np.concatenate((np.diff(knots) > 0, [True]))
    return knots[keep], values[keep]


def _platt(x: Floats, y: Floats) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, max_iter=1000).fit(x.reshape(-1, 1), y)
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    return lambda grid: _sigmoid(a * grid + b)


def _beta(x: Floats, y: Floats) -> Any:
    """Beta calibration on margins, or None when its fit is not increasing in the margin."""
    from sklearn.linear_model import LogisticRegression

    features = _beta_features(x)
    model = LogisticRegression(C=1e4, max_iter=1000).fit(features, y)
    a, b = (float(v) for v in model.coef_[0])
    if a < 0.0 or b < 0.0 or a + b <= 0.0:
        return None
    c = float(model.intercept_[0])
    return lambda grid: _sigmoid(_beta_features(grid) @ np.array([a, b]) + c)


def _beta_features(m: Floats) -> Floats:
    """``log p`` and ``-log(1 - p)`` for ``p`` the logistic of ``m``, without overflow."""
    return np.column_stack((-np.logaddexp(0.0, -m), np.logaddexp(0.0, m)))


def _sigmoid(z: Floats) -> Floats:
    """The logistic function without overflow for large margins."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def interp_one(x: float, knots: list[float], values: list[float]) -> float:
    """``np.interp(x, knots, values)`` for one float, step for step as numpy computes it
    (``arr_interp``: the ends held, a knot's own value at a knot, else the slope of its segment
    times the distance from its left knot, from the right knot if that is NaN)."""
    if x != x:  # NaN
        return x
    j = bisect_right(knots, x) - 1
    if j < 0:
        return values[0]
    if j >= len(knots) - 1:
        return values[-1]
    x0, y0 = knots[j], values[j]
    if x0 == x:
        return y0
    x1, y1 = knots[j + 1], values[j + 1]
    slope = (y1 - y0) / (x1 - x0)
    p = slope * (x - x0) + y0
    if p != p:
        p = slope * (x - x1) + y1
        if p != p and y0 == y1:
            p = y0
    return p


def _check(knots: Floats, values: Floats) -> str:
    if knots.ndim != 1 or knots.shape != values.shape or knots.size < 2:
        return "knots and values must be equal-length lists of at least two numbers"
    if not (np.isfinite(knots).all() and np.isfinite(values).all()):
        return "knots or values are not finite"
    if np.any(np.diff(knots) <= 0):
        return "knots are not strictly increasing"
    if np.any(np.diff(values) < 0) or values[0] < 0.0 or values[-1] > 1.0:
        return "values are not non-decreasing within [0, 1]"
    return ""
