"""Drift: population stability index of the score and top features, live window vs training.

    PSI = sum over bins of (a - e) * ln(a / e)

with ``e`` the training share and ``a`` the live share of each bin. Bins are the training
reference's (``frisk.models.reference``): fixed quantile edges from training, plus one bin for a
missing value; a categorical feature has one bin per code seen in either period. An empty bin's
share is floored at ``FLOOR`` so the log stays finite (shares are not renormalised: with ten bins
the floor moves PSI by well under 0.01). Rule of thumb: under 0.1 stable, 0.1-0.25 moderate shift,
above 0.25 a population the model was not trained on.

Features that grow with time by definition (kind ``age``: ``seconds_since_first_by_payer``, an
account's age) drift as a deployment ages: every entity the training period saw is older now.
Their PSI is reported, marked ``ages``, and never raises an alert.

The live window is the serving model's own recent decisions (the last N, or those of the last
hours), read with one bounded query of the score and the packed features
(``Ledger.monitoring.score_window``), of which the referenced ones are kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from frisk.models.scoring import FraudModel
from frisk.store.ledger import Ledger

__all__ = [
    "FLOOR",
    "DriftReport",
    "FeatureDrift",
    "LiveWindow",
    "ageing_features",
    "drift_report",
    "psi",
    "read_window",
    "reference_of",
    "shares",
]

Floats = npt.NDArray[np.float64]
FLOOR: Final = 1e-4


def psi(expected: Sequence[float] | Floats, actual: Sequence[float] | Floats) -> float:
    """PSI of two share vectors over the same bins; an empty bin counts as ``FLOOR``."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), FLOOR)
    if e.shape != a.shape:
        raise ValueError(f"{e.size} expected shares for {a.size} actual ones")
    return float(np.sum((a - e) * np.log(a / e)))


def shares(entry: Mapping[str, Any], values: Floats) -> tuple[Floats, Floats]:
    """(training, live) shares over one reference entry's bins, the missing bin last.

    ``values`` are what the booster reads: numbers, or category codes for a categorical entry;
    nan is missing.
    """
    values = np.asarray(values, dtype=np.float64)
    n = max(values.size, 1)
    defined = values[np.isfinite(values)]
    missing = float(entry.get("missing") or 0.0)
    live_missing = 1.0 - defined.size / n if values.size else 0.0
    if entry.get("kind") == "categorical":
        reference = {int(k): float(v) for k, v in dict(entry["shares"]).items()}
        codes, counts = np.unique(defined.astype(np.int64), return_counts=True)
        live = dict(zip(codes.tolist(), (counts / n).tolist(), strict=True))
        keys = sorted(set(reference) | set(live))
        expected = [reference.get(k, 0.0) * (1.0 - missing) for k in keys]
        actual = [live.get(k, 0.0) for k in keys]
    else:
        edges = np.asarray(entry.get("edges") or [], dtype=np.float64)
        expected = [float(s) * (1.0 - missing) for s in entry.get("shares") or []]
        counts = np.bincount(
            np.searchsorted(edges, defined, side="right"), minlength=edges.size + 1
        )
        actual = (counts / n).tolist() if expected else []
    return np.array([*expected, missing]), np.array([*actual, live_missing])


@dataclass(frozen=True, slots=True)
class LiveWindow:
    """The score and referenced feature values of the window's decisions (booster encoding)."""

    model_version: str
    start: datetime | None  # earliest and latest transaction time in the window
    end: datetime | None
    scores: Floats
    features: dict[str, Floats]

    @property
    def decisions(self) -> int:
        return int(self.scores.size)


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    name: str
    psi: float | None
    alert: bool
    ages: bool = False  # grows with time by definition: reported, never an alert


@dataclass(frozen=True, slots=True)
class DriftReport:
    """PSI of the score and of each referenced feature, features sorted by PSI, highest first."""

    alert_level: float
    window: LiveWindow
    reference_rows: int
    score: FeatureDrift
    features: list[FeatureDrift]

    def to_dict(self) -> dict[str, Any]:
        w = self.window
        return {
            "alert_level": self.alert_level,
            "window": {
                "start": None if w.start is None else w.start.isoformat(),
                "end": None if w.end is None else w.end.isoformat(),
                "decisions": w.decisions,
            },
            "reference": {"model_version": w.model_version, "rows": self.reference_rows},
            "score": {"psi": self.score.psi, "alert": self.score.alert},
            "features": [
                {"name": f.name, "psi": f.psi, "alert": f.alert, "ages": f.ages}
                for f in self.features
            ],
        }


def reference_of(model: FraudModel) -> Mapping[str, Any] | None:
    """The drift reference a model artifact stores, or None (an artifact from before it)."""
    reference = model.metadata.get("reference")
    if not isinstance(reference, Mapping) or "score" not in reference:
        return None
    return reference


def ageing_features(catalogue: Mapping[str, Any]) -> frozenset[str]:
    """The names of a catalogue's features that grow with time (kind ``age``); ``catalogue``
    is its ``to_dict()``, as a model artifact keeps it."""
    from frisk.features import Catalogue

    if not catalogue:
        return frozenset()
    specs = Catalogue.from_dict(dict(catalogue)).specs
    return frozenset(spec.name for spec in specs if spec.kind == "age")


def read_window(
    ledger: Ledger,
    model: FraudModel,
    *,
    last: int = 5000,
    hours: float | None = None,
    now: datetime | None = None,
) -> LiveWindow:
    """The latest ``last`` decisions of ``model`` (or those recorded in the last ``hours``)."""
    version = model.version or "unversioned"
    reference = reference_of(model) or {}
    names = [str(n) for n in dict(reference.get("features") or {})]
    categorical = set(model.spec.categorical)
    since = None if hours is None else (now or datetime.now(UTC)) - timedelta(hours=hours)
    rows = ledger.monitoring.score_window(
        version, [(name, name in categorical) for name in names], last=last, since=since
    )
    scores = np.array([r.score for r in rows], dtype=np.float64)
    times = [r.event_time for r in rows]
    values: dict[str, Floats] = {}
    for i, name in enumerate(names):
        column = [r.values[i] for r in rows]
        if name in categorical:
            values[name] = np.array([model.encoder.code(v, name) for v in column])
        else:
            values[name] = np.array(
                [math.nan if v is None else float(v) for v in column], dtype=np.float64
            )
    return LiveWindow(
        version, min(times) if times else None, max(times) if times else None, scores, values
    )


def drift_report(
    reference: Mapping[str, Any],
    window: LiveWindow,
    *,
    alert_level: float,
    min_decisions: int,
    ageing: frozenset[str] = frozenset(),
) -> DriftReport:
    """PSI of ``window`` against ``reference``; None (and no alert) below ``min_decisions``.

    Features named in ``ageing`` (``ageing_features``) are measured but never alert.
    """
    enough = window.decisions >= min_decisions

    def measure(name: str, entry: Mapping[str, Any], values: Floats) -> FeatureDrift:
        ages = name in ageing
        if not enough or not (entry.get("shares") or entry.get("kind") == "categorical"):
            return FeatureDrift(name, None, False, ages)
        value = round(psi(*shares(entry, values)), 6)
        return FeatureDrift(name, value, value >= alert_level and not ages, ages)

    score = measure("score", reference["score"], window.scores)
    found = [
        measure(name, entry, window.features.get(name, np.full(window.decisions, math.nan)))
        for name, entry in dict(reference.get("features") or {}).items()
    ]
    found.sort(key=lambda f: (-(f.psi if f.psi is not None else -1.0), f.name))
    return DriftReport(alert_level, window, int(reference.get("rows") or 0), score, found)
