"""Score thresholds, risk tiers, actions and the 0-100 risk score.

Three cut points on the calibrated fraud probability, learnt on the validation period:

    probability   [0, medium)   [medium, review)   [review, block)   [block, 1]
    risk tier     low           medium             high              critical
    action        allow         allow              review            block
    risk score    0 .. 40       40 .. 70           70 .. 90          90 .. 100

``review`` sends ``alert_budget`` of traffic to review (or block), ``block`` the smaller
``block_budget`` share, or the lowest score whose validation precision reaches ``block_precision``
(never below ``review``). ``medium`` marks the top ``medium_budget`` of traffic for watching.

The risk score is piecewise linear in the probability through the table's corners, floored to an
integer: monotone in the probability, and the tier boundaries sit at the same risk scores (40, 70,
90) whatever the model, so API clients can rely on "70 or more means review".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from frisk.errors import ArtifactError, ModelError
from frisk.models.calibration import interp_one
from frisk.schema import Action, RiskTier

__all__ = [
    "ACTION_OF_LEVEL",
    "RISK_SCORE_CUTS",
    "TIER_OF_LEVEL",
    "Action",
    "RiskTier",
    "ThresholdFit",
    "Thresholds",
    "fit_thresholds",
]

Floats = npt.NDArray[np.float64]

RISK_SCORE_CUTS: Final = (40.0, 70.0, 90.0)
# Fewer blocked validation events than this says nothing about precision.
MIN_BLOCK_SUPPORT: Final = 10


TIER_OF_LEVEL: Final = tuple(t.value for t in RiskTier)
ACTION_OF_LEVEL: Final = ("allow", "allow", "review", "block")
_TIERS: Final = np.array(TIER_OF_LEVEL, dtype=object)
_ACTIONS: Final = np.array(ACTION_OF_LEVEL, dtype=object)
# One event's tier and action by level: the members themselves, not a look-up by value per call.
_TIER_MEMBERS: Final = tuple(RiskTier(t) for t in TIER_OF_LEVEL)
_ACTION_MEMBERS: Final = tuple(Action(a) for a in ACTION_OF_LEVEL)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Cut points on the calibrated probability; ``replace`` them at serve time to override."""

    medium: float
    review: float
    block: float

    def __post_init__(self) -> None:
        cuts = (self.medium, self.review, self.block)
        if not all(math.isfinite(c) and 0.0 <= c <= 1.0 for c in cuts):
            raise ModelError(f"thresholds {cuts} must be probabilities in [0, 1]")
        if not self.medium <= self.review <= self.block:
            raise ModelError(
                f"thresholds must satisfy medium <= review <= block; got medium={self.medium:g}, "
                f"review={self.review:g}, block={self.block:g}"
            )

    def replace(self, **changes: float) -> Thresholds:
        """A copy with some cut points overridden (validated like the original)."""
        return replace(self, **changes)

    def tier(self, probability: float) -> RiskTier:
        return _TIER_MEMBERS[self._level(probability)]

    def action(self, probability: float) -> Action:
        return _ACTION_MEMBERS[self._level(probability)]

    def risk_score(self, probability: float) -> int:
        """``risk_scores`` of one probability, in plain Python: ``np.interp`` of one value cost
        ~2 µs, mostly its call; ``interp_one`` is its arithmetic step for step (tested equal)."""
        knots, scores = _knot_lists(self.medium, self.review, self.block)
        return math.floor(interp_one(float(probability), knots, scores))

    def tiers(self, probabilities: npt.ArrayLike) -> npt.NDArray[np.object_]:
        return _TIERS[self._levels(probabilities)]  # type: ignore[no-any-return]

    def actions(self, probabilities: npt.ArrayLike) -> npt.NDArray[np.object_]:
        return _ACTIONS[self._levels(probabilities)]  # type: ignore[no-any-return]

    def risk_scores(self, probabilities: npt.ArrayLike) -> npt.NDArray[np.int16]:
        p = np.asarray(probabilities, dtype=np.float64)
        return np.floor(np.interp(p, *self._knots())).astype(np.int16)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Thresholds:
        try:
            return cls(float(data["medium"]), float(data["review"]), float(data["block"]))
        except (KeyError, TypeError, ValueError, ModelError) as exc:
            raise ArtifactError(f"thresholds are malformed: {exc}") from exc

    def _level(self, probability: float) -> int:
        return (
            (probability >= self.medium)
            + (probability >= self.review)
            + (probability >= self.block)
        )

    def levels(self, probabilities: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """Tier index of each probability: 0 low, 1 medium, 2 high, 3 critical."""
        return self._levels(probabilities)

    def _levels(self, probabilities: npt.ArrayLike) -> npt.NDArray[np.intp]:
        p = np.asarray(probabilities, dtype=np.float64)
        return np.searchsorted(np.array([self.medium, self.review, self.block]), p, side="right")

    def _knots(self) -> tuple[Floats, Floats]:
        return _knots(self.medium, self.review, self.block)


@functools.lru_cache(maxsize=64)
def _knots(medium: float, review: float, block: float) -> tuple[Floats, Floats]:
    # np.interp needs increasing knots: equal cut points are pulled apart downwards, one ulp at a
    # time, so a probability exactly at a shared cut gets the highest tier's score. Cached: built
    # per decision they cost more than the interpolation.
    xs = [0.0, medium, review, block, 1.0]
    for i in range(len(xs) - 2, -1, -1):
        xs[i] = min(xs[i], float(np.nextafter(xs[i + 1], -1.0)))
    knots = np.array(xs), np.array([0.0, *RISK_SCORE_CUTS, 100.0])
    for array in knots:
        array.flags.writeable = False  # shared by every caller
    return knots


@functools.lru_cache(maxsize=64)
def _knot_lists(medium: float, review: float, block: float) -> tuple[list[float], list[float]]:
    knots, scores = _knots(medium, review, block)
    return knots.tolist(), scores.tolist()


@dataclass(frozen=True, slots=True)
class ThresholdFit:
    """How the thresholds were chosen and what they did on the validation period."""

    thresholds: Thresholds
    events: int
    alert_budget: float
    block_budget: float
    block_precision: float | None
    block_rule: str  # "budget", "precision", or why the precision target fell back to the budget
    review_share: float  # validation share at or above review
    block_share: float
    medium_share: float
    review_precision: float  # nan without labels
    block_precision_seen: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["thresholds"] = self.thresholds.to_dict()
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in data.items()
        }


def fit_thresholds(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike | None = None,
    *,
    alert_budget: float = 0.005,
    block_budget: float = 0.001,
    block_precision: float | None = None,
    medium_budget: float = 0.05,
) -> ThresholdFit:
    """Choose thresholds on validation ``scores`` (calibrated) and, for precision, ``labels``."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size == 0:
        raise ModelError("no validation scores to choose thresholds from")
    for name, share in (
        ("alert budget", alert_budget),
        ("block budget", block_budget),
        ("medium budget", medium_budget),
    ):
        if not 0.0 < share <= 1.0:
            raise ModelError(f"{name} {share!r}: expected a share in (0, 1], e.g. 0.005")
    if block_precision is not None and not 0.0 < block_precision <= 1.0:
        raise ModelError(f"block precision {block_precision!r}: expected a value in (0, 1]")
    y = None if labels is None else np.asarray(labels, dtype=np.float64).ravel()
    review = _at_share(s, alert_budget)
    block, rule = _at_share(s, block_budget), "budget"
    if block_precision is not None:
        if y is None:
            raise ModelError("a block precision target needs validation labels")
        found = _at_precision(s, y, block_precision)
        if found is None:
            rule = f"budget (precision {block_precision:g} not reached on validation)"
        else:
            block, rule = found, "precision"
    medium = _at_share(s, medium_budget)
    # Keep the order medium <= review <= block: a larger budget never cuts above a smaller one.
    block = max(block, review)
    medium = min(medium, review)
    thresholds = Thresholds(medium, review, block)
    return ThresholdFit(
        thresholds=thresholds,
        events=int(s.size),
        alert_budget=alert_budget,
        block_budget=block_budget,
        block_precision=block_precision,
        block_rule=rule,
        review_share=float(np.mean(s >= review)),
        block_share=float(np.mean(s >= block)),
        medium_share=float(np.mean(s >= medium)),
        review_precision=_precision(s, y, review),
        block_precision_seen=_precision(s, y, block),
    )


def _at_share(s: Floats, share: float) -> float:
    """The cut whose share of ``s`` at or above it is closest to ``share`` (ties go under)."""
    ordered = np.sort(s)[::-1]
    k = min(s.size, math.floor(share * s.size + 1e-9))
    above = float(np.nextafter(ordered[0], math.inf))  # nothing at or above it
    if k == 0:
        return min(above, 1.0)
    cut = float(ordered[k - 1])
    at_cut = int(np.count_nonzero(s >= cut))
    higher = ordered[ordered > cut]
    next_cut = float(higher.min()) if higher.size else min(above, 1.0)
    under = int(np.count_nonzero(s >= next_cut))
    return cut if abs(at_cut - k) <= abs(k - under) else next_cut


def _at_precision(s: Floats, y: Floats, target: float) -> float | None:
    """The lowest score whose precision at or above it reaches ``target`` on enough events."""
    order = np.argsort(-s, kind="stable")
    ss, yy = s[order], y[order]
    last = np.concatenate((ss[1:] != ss[:-1], [True]))  # the end of each run of equal scores
    counts = np.arange(1, ss.size + 1)[last]
    precision = np.cumsum(yy)[last] / counts
    ok = np.flatnonzero((precision >= target) & (counts >= MIN_BLOCK_SUPPORT))
    return None if ok.size == 0 else float(ss[last][ok[-1]])


def _precision(s: Floats, y: Floats | None, cut: float) -> float:
    if y is None:
        return math.nan
    hit = s >= cut
    return float(y[hit].mean()) if hit.any() else math.nan
