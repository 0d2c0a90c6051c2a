"""Evaluate a model on a time window at a fixed alert budget, next to two baselines.

The test rows are the labelled events in ``[start, end)``. Baselines are fitted on the labelled
events of the model's own training window and scored on the same test rows, so the comparison
differs only in the scorer. A test window that overlaps the training window is refused unless
asked for: such numbers flatter every scorer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from frisk.errors import InputError
from frisk.models.baselines import LogisticBaseline, RuleBaseline
from frisk.models.metrics import ScoreMetrics, jsonable, score_metrics
from frisk.models.scoring import FraudModel

__all__ = [
    "MODEL",
    "EvaluationResult",
    "Scorer",
    "Window",
    "evaluate_artifact",
    "evaluate_model",
    "evaluate_scores",
    "feature_importances",
    "training_window",
]

Floats = npt.NDArray[np.float64]
MODEL: Final = "model"
LOGISTIC: Final = "logistic_regression"
RULE: Final = "amount_velocity_rule"


class Scorer(Protocol):
    def score_many(self, frame: pl.DataFrame) -> Floats: ...


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window ``[start, end)``; either side may be open."""

    start: datetime | None
    end: datetime | None

    def mask(self, timestamps: pl.Series) -> pl.Series:
        keep = pl.Series(np.ones(timestamps.len(), dtype=np.bool_))
        if self.start is not None:
            keep = keep & (timestamps >= self.start)
        if self.end is not None:
            keep = keep & (timestamps < self.end)
        return keep

    def overlaps(self, other: Window) -> bool:
        starts_before_other_ends = self.start is None or other.end is None or self.start < other.end
        ends_after_other_starts = self.end is None or other.start is None or self.end > other.start
        return starts_before_other_ends and ends_after_other_starts

    def to_dict(self) -> dict[str, str | None]:
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Metrics of every scorer on the same test rows, plus what the report needs to draw them."""

    test: Window
    train: Window | None
    budget: float
    k: int
    rows: int  # events in the test window
    unlabelled: int  # of which dropped for want of a label
    metrics: dict[str, ScoreMetrics]
    descriptions: dict[str, str]
    importances: dict[str, float] = field(default_factory=dict)
    labels: Floats = field(default_factory=lambda: np.zeros(0))
    scores: dict[str, Floats] = field(default_factory=dict)

    def comparison(self) -> list[dict[str, Any]]:
        """One row per scorer with the headline figures, the model first."""
        rows = []
        for name, m in self.metrics.items():
            rows.append(
                {
                    "scorer": name,
                    "roc_auc": m.roc_auc,
                    "average_precision": m.average_precision,
                    "alerts": m.at_budget.alerts,
                    "recall": m.at_budget.recall,
                    "precision": m.at_budget.precision,
                    "amount_recall": m.at_budget.amount_recall,
                    f"payer_precision_at_{self.k}": m.payers.mean,
                    "brier": m.calibration.brier if m.calibration else math.nan,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        data = {
            "test_window": self.test.to_dict(),
            "train_window": None if self.train is None else self.train.to_dict(),
            "alert_budget": self.budget,
            "k": self.k,
            "rows": self.rows,
            "unlabelled_rows": self.unlabelled,
            "descriptions": self.descriptions,
            "comparison": self.comparison(),
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "importances": self.importances,
        }
        result: dict[str, Any] = jsonable(data)
        return result


def evaluate_model(
    model: Scorer,
    table: pl.DataFrame,
    features: pl.DataFrame,
    start: datetime | None,
    end: datetime | None,
    budget: float = 0.005,
    *,
    k: int = 100,
    train: Window | None = None,
    baselines: bool = True,
    categorical: Sequence[str] = (),
    importances: Mapping[str, float] | None = None,
    allow_overlap: bool = False,
    description: str = "",
) -> EvaluationResult:
    """Score the labelled events of ``[start, end)`` with ``model`` and, if asked, two baselines.

    ``features`` is the offline feature frame of ``table``: same rows, same order, a
    ``transaction_id`` column and one column per feature. Baselines need the model's training
    window ``train`` (see ``training_window``); they are fitted on its labelled events, the rows
    the model itself was trained from.
    """
    _check_aligned(table, features)
    test = Window(start, end)
    if train is not None and test.overlaps(train) and not allow_overlap:
        raise InputError(
            f"test window {_show(test)} overlaps the training window {_show(train)}; "
            "evaluate on later events (or allow the overlap explicitly)"
        )
    in_window = test.mask(table.get_column("timestamp"))
    rows = int(in_window.sum())
    labelled = in_window & table.get_column("label").is_not_null()
    if not labelled.any():
        raise InputError(f"no labelled events in the test window {_show(test)}")
    test_rows, test_features = table.filter(labelled), features.filter(labelled)
    scorers: dict[str, Scorer] = {MODEL: model}
    descriptions = {MODEL: description or type(model).__name__}
    if baselines:
        if train is None:
            raise InputError("baselines need the model's training window; none was given")
        fitted = _fit_baselines(table, features, train, categorical)
        scorers.update(fitted)
        descriptions.update({name: b.describe() for name, b in fitted.items()})
    # Only the baselines get the raw amount column: the model sees its own feature frame as is.
    baseline_features = _with_amount(test_features, test_rows)
    scores = {
        name: s.score_many(test_features if name == MODEL else baseline_features)
        for name, s in scorers.items()
    }
    return evaluate_scores(
        test_rows,
        scores,
        budget,
        k=k,
        test=test,
        train=train,
        rows_in_window=rows,
        descriptions=descriptions,
        importances=importances,
    )


def evaluate_artifact(
    model: FraudModel,
    table: pl.DataFrame,
    start: datetime | None,
    end: datetime | None,
    budget: float = 0.005,
    *,
    k: int = 100,
    baselines: bool = True,
    allow_overlap: bool = False,
) -> EvaluationResult:
    """``evaluate_model`` for a loaded model artifact: features from its own catalogue, the
    training window and gain importances from its metadata.
    """
    from frisk.models.pipeline import featurize, model_catalogue

    catalogue = model_catalogue(model)
    train = training_window(model.metadata)
    if baselines and train is None:
        raise InputError(
            "the model's metadata records no training window, so baselines cannot be fitted on "
            "the rows it learnt from; evaluate without baselines"
        )
    # Features only look back, so events after the last window of interest are not needed.
    ends = [end] + ([train.end] if baselines and train is not None else [])
    if all(e is not None for e in ends):
        last = max(e for e in ends if e is not None)
        table = table.filter(pl.col("timestamp") < last)
    features = featurize(table, catalogue)
    version = model.version
    return evaluate_model(
        model,
        table,
        features,
        start,
        end,
        budget,
        k=k,
        train=train,
        baselines=baselines,
        categorical=model.spec.categorical,
        importances=feature_importances(model.metadata),
        allow_overlap=allow_overlap,
        description=f"LightGBM model {version}" if version else "LightGBM model",
    )


def evaluate_scores(
    rows: pl.DataFrame,
    scores: Mapping[str, npt.ArrayLike],
    budget: float,
    *,
    k: int = 100,
    test: Window | None = None,
    train: Window | None = None,
    rows_in_window: int | None = None,
    descriptions: Mapping[str, str] | None = None,
    importances: Mapping[str, float] | None = None,
) -> EvaluationResult:
    """Metrics of already computed scores on labelled ``rows``.

    Only the ``MODEL`` entry is read as probabilities (calibration); baselines are rankings.
    """
    arrays = {name: np.asarray(s, dtype=np.float64).ravel() for name, s in scores.items()}
    metrics = {
        name: score_metrics(rows, s, budget, k=k, probabilities=name == MODEL)
        for name, s in arrays.items()
    }
    in_window = rows.height if rows_in_window is None else rows_in_window
    return EvaluationResult(
        test=test or Window(None, None),
        train=train,
        budget=budget,
        k=k,
        rows=in_window,
        unlabelled=in_window - rows.height,
        metrics=metrics,
        descriptions=dict(descriptions or {}),
        importances=dict(importances or {}),
        labels=rows.get_column("label").cast(pl.Float64).to_numpy(),
        scores=arrays,
    )


def training_window(metadata: Mapping[str, Any]) -> Window | None:
    """The training window a model artifact's metadata records, or ``None`` if it has none."""
    training = metadata.get("training")
    if not isinstance(training, Mapping) or not {"start", "end"} <= training.keys():
        return None
    return Window(_instant(training["start"], "start"), _instant(training["end"], "end"))


def feature_importances(metadata: Mapping[str, Any]) -> dict[str, float]:
    """Gain importance per feature as the artifact's metadata records it (empty if absent)."""
    recorded = metadata.get("feature_importance")
    if not isinstance(recorded, Mapping):
        return {}
    return {str(name): float(value) for name, value in recorded.items()}


def _instant(value: object, side: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InputError(
            f"model metadata training.{side}={value!r} is not an ISO datetime"
        ) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _fit_baselines(
    table: pl.DataFrame, features: pl.DataFrame, train: Window, categorical: Sequence[str]
) -> dict[str, LogisticBaseline | RuleBaseline]:
    keep = train.mask(table.get_column("timestamp")) & table.get_column("label").is_not_null()
    if not keep.any():
        raise InputError(f"no labelled events in the training window {_show(train)}")
    train_rows, train_features = table.filter(keep), features.filter(keep)
    labels = train_rows.get_column("label").to_numpy()
    names = [c for c in features.columns if c != "transaction_id"]
    logistic = LogisticBaseline(names, categorical).fit(train_features, labels)
    rule = RuleBaseline().fit(_with_amount(train_features, train_rows), labels)
    return {LOGISTIC: logistic, RULE: rule}


def _with_amount(features: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The feature frame with the event's amount, which the rule needs even if no feature is it."""
    if "amount" in features.columns:
        return features
    return features.with_columns(rows.get_column("amount"))


def _check_aligned(table: pl.DataFrame, features: pl.DataFrame) -> None:
    if features.height != table.height:
        raise InputError(f"feature frame has {features.height} rows, event table {table.height}")
    if "transaction_id" in features.columns and not features.get_column("transaction_id").equals(
        table.get_column("transaction_id")
    ):
        raise InputError("feature frame rows are not in the event table's order (transaction_id)")


def _show(window: Window) -> str:
    start = "-inf" if window.start is None else window.start.isoformat()
    end = "+inf" if window.end is None else window.end.isoformat()
    return f"[{start}, {end})"
