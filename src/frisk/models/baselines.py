"""Two baselines a fraud model has to beat on the same rows: logistic regression and a rule score.

Both follow the estimator contract: ``__init__`` stores parameters, ``fit(frame, labels)`` returns
``self``, learned attributes end in ``_``, and ``score_many(frame)`` gives one score per row.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Final, Self

import numpy as np
import numpy.typing as npt
import polars as pl

from frisk.errors import InputError, ModelError

__all__ = ["RULE_ROLES", "LogisticBaseline", "RuleBaseline"]

Floats = npt.NDArray[np.float64]
MISSING_CATEGORY: Final = "(missing)"
# Columns never used as features even when a frame carries them.
_NOT_FEATURES: Final = frozenset(
    {"transaction_id", "timestamp", "label", "label_timestamp", "label_source", "scenario"}
)
# The rule score combines, where the catalogue has them, one feature per role: the first name that
# exists wins (the default catalogue's), else the first column matching the pattern.
RULE_ROLES: Final[tuple[tuple[str, tuple[str, ...], str], ...]] = (
    ("amount", ("amount",), r"^amount$"),
    (
        "amount ratio to the payer's mean",
        ("amount_ratio_mean_by_payer_last50",),
        r"^amount_ratio_(mean|median)_by_payer",
    ),
    ("payer's 1h count", ("txn_count_by_payer_1h",), r"^(txn_)?count_by_payer_1h$"),
    ("payer's 24h count", ("txn_count_by_payer_24h",), r"^(txn_)?count_by_payer_24h$"),
)


class LogisticBaseline:
    """Class-balanced logistic regression on standardised numeric and one-hot categorical features.

    Missing numbers are imputed with the training median; categories beyond the ``max_categories``
    most frequent, and categories never seen in training, share one "other" column. Above
    ``max_rows`` training rows, every fraud and a seeded sample of legit rows are fitted: class
    balancing makes the sample's optimum the full set's in expectation, at a fraction of the time.
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        categorical: Sequence[str] = (),
        *,
        max_categories: int = 20,
        c: float = 1.0,
        max_iter: int = 1000,
        max_rows: int | None = 200_000,
        seed: int = 7,
    ) -> None:
        self.features = features
        self.categorical = categorical
        self.max_categories = max_categories
        self.c = c
        self.max_iter = max_iter
        self.max_rows = max_rows
        self.seed = seed

    def fit(self, frame: pl.DataFrame, labels: npt.ArrayLike) -> Self:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        y = _binary_labels(labels, frame.height, "logistic baseline")
        keep, self.legit_rate_ = _sample_legit(y, self.max_rows, self.seed)
        if keep is not None:
            frame, y = frame.filter(pl.Series(keep)), y[keep]
        self.rows_ = frame.height
        names = list(self.features) if self.features is not None else _feature_columns(frame)
        _require(frame, names, "logistic baseline")
        self.categorical_ = [
            n for n in names if n in self.categorical or not _is_numeric(frame.schema[n])
        ]
        self.numeric_ = [n for n in names if n not in self.categorical_]
        # Preprocessing in numpy/polars rather than sklearn's ColumnTransformer: that one goes
        # through an object matrix and spends most of a million-row fit there.
        numeric = self._numeric(frame)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-nan column: median is nan
            median = np.nanmedian(numeric, axis=0) if numeric.size else np.zeros(0)
        self.median_ = np.nan_to_num(median, nan=0.0)
        np.copyto(numeric, self.median_, where=np.isnan(numeric))
        self.mean_ = numeric.mean(axis=0) if numeric.size else np.zeros(numeric.shape[1])
        scale = numeric.std(axis=0) if numeric.size else np.zeros(numeric.shape[1])
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.categories_ = {
            n: _top_categories(frame, n, self.max_categories) for n in self.categorical_
        }
        self.regression_ = LogisticRegression(
            C=self.c, class_weight="balanced", max_iter=self.max_iter
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            self.regression_.fit(self._matrix(frame, numeric), y)
        # Not converging is worth knowing, not worth failing an evaluation over.
        self.converged_ = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        return self

    def score_many(self, frame: pl.DataFrame) -> Floats:
        """Probability of fraud under balanced class weights (a ranking, not calibrated)."""
        if not hasattr(self, "regression_"):
            raise ModelError("logistic baseline: score_many called before fit")
        _require(frame, [*self.numeric_, *self.categorical_], "logistic baseline")
        if frame.height == 0:
            return np.zeros(0)
        matrix = self._matrix(frame, self._numeric(frame))
        scores: Floats = self.regression_.predict_proba(matrix)[:, 1]
        return scores.astype(np.float64)

    def describe(self) -> str:
        sampled = f", legit rows sampled at {self.legit_rate_:.3g}" if self.legit_rate_ < 1 else ""
        return (
            f"logistic regression on {len(self.numeric_)} numeric and "
            f"{len(self.categorical_)} categorical feature(s), class-balanced, "
            f"fitted on {self.rows_:,} rows{sampled}"
        )

    def _numeric(self, frame: pl.DataFrame) -> Floats:
        if not self.numeric_:
            return np.zeros((frame.height, 0))
        matrix = np.asarray(
            frame.select(pl.col(n).cast(pl.Float64) for n in self.numeric_).to_numpy(),
            dtype=np.float64,
        )
        # Nulls arrive as nan; ratios of a zero denominator as inf, which counts as missing too.
        matrix[~np.isfinite(matrix)] = np.nan
        return matrix

    def _matrix(self, frame: pl.DataFrame, numeric: Floats) -> Floats:
        """Standardised numbers (missing -> training median), then one-hot categories.

        Works in place on ``numeric``, a fresh matrix from ``_numeric``: these are the largest
        arrays of an evaluation.
        """
        np.copyto(numeric, self.median_, where=np.isnan(numeric))
        numeric -= self.mean_
        numeric /= self.scale_
        scaled = numeric
        onehot = [
            frame.select(_onehot(n, kept)).to_numpy().astype(np.float64)
            for n, kept in self.categories_.items()
        ]
        return np.hstack([scaled, *onehot]) if onehot else scaled


class RuleBaseline:
    """A rule score: the mean, over amount-and-velocity features, of each value's training rank.

    A value's rank is the share of training rows with a smaller value, so the score is in [0, 1]
    and higher means larger, faster spending than usual. Missing values rank 0.5 (no evidence).
    Without ``features``, ``fit`` picks one feature per role in ``RULE_ROLES`` from the frame,
    falling back to amount alone; ``describe`` says which it used.
    """

    def __init__(self, features: Sequence[str] | None = None) -> None:
        self.features = features

    def fit(self, frame: pl.DataFrame, labels: npt.ArrayLike | None = None) -> Self:
        if labels is not None:
            _binary_labels(labels, frame.height, "rule baseline")
        names = list(self.features) if self.features is not None else pick_rule_features(frame)
        if not names:
            raise InputError("rule baseline: the frame has no 'amount' column to fall back on")
        _require(frame, names, "rule baseline")
        self.features_ = names
        self.reference_ = [np.sort(_finite_values(frame, n)) for n in names]
        return self

    def score_many(self, frame: pl.DataFrame) -> Floats:
        if not hasattr(self, "features_"):
            raise ModelError("rule baseline: score_many called before fit")
        _require(frame, self.features_, "rule baseline")
        total = np.zeros(frame.height)
        for name, reference in zip(self.features_, self.reference_, strict=True):
            values = frame.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()
            rank = np.full(frame.height, 0.5)
            known = ~np.isnan(values)
            if reference.size:
                # Mid-rank among equal training values, so ties in the reference do not bias.
                low = np.searchsorted(reference, values[known], side="left")
                high = np.searchsorted(reference, values[known], side="right")
                rank[known] = (low + high) / (2.0 * reference.size)
            total += rank
        scores: Floats = total / len(self.features_)
        return scores

    def describe(self) -> str:
        return "rank mean of " + ", ".join(self.features_)


def pick_rule_features(frame: pl.DataFrame) -> list[str]:
    """One numeric column per rule role that the frame has; amount alone if nothing else."""
    chosen: list[str] = []
    numeric = [n for n, t in frame.schema.items() if _is_numeric(t)]
    for _, preferred, pattern in RULE_ROLES:
        match = next((n for n in preferred if n in numeric), None)
        if match is None:
            match = next((n for n in numeric if re.search(pattern, n)), None)
        if match is not None and match not in chosen:
            chosen.append(match)
    return chosen


def _sample_legit(
    y: npt.NDArray[np.int8], max_rows: int | None, seed: int
) -> tuple[npt.NDArray[np.bool_] | None, float]:
    """Rows to keep (``None``: all) and the legit sampling rate: every fraud, enough legit rows."""
    if max_rows is None or y.size <= max_rows:
        return None, 1.0
    fraud = y == 1
    legit = int(y.size - fraud.sum())
    rate = min(1.0, max(max_rows - int(fraud.sum()), 1) / legit)
    keep = fraud | (np.random.default_rng(seed).random(y.size) < rate)
    return keep, rate


def _top_categories(frame: pl.DataFrame, name: str, most: int) -> list[str]:
    """The ``most`` most frequent values of a column, ties by value, so the same data agrees."""
    counts = (
        frame.get_column(name)
        .cast(pl.String)
        .fill_null(MISSING_CATEGORY)
        .value_counts(name="count")
        .sort(["count", name], descending=[True, False])
    )
    return [str(v) for v in counts.get_column(name).head(most)]


def _onehot(name: str, kept: Sequence[str]) -> list[pl.Expr]:
    """One indicator per kept value, and one for every other value (rare or never seen)."""
    value = pl.col(name).cast(pl.String).fill_null(MISSING_CATEGORY)
    return [
        *((value == v).cast(pl.Float64).alias(f"{name}={i}") for i, v in enumerate(kept)),
        (~value.is_in(list(kept))).cast(pl.Float64).alias(f"{name}=other"),
    ]


def _feature_columns(frame: pl.DataFrame) -> list[str]:
    return [n for n in frame.columns if n not in _NOT_FEATURES]


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


def _require(frame: pl.DataFrame, names: Sequence[str], who: str) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InputError(f"{who}: frame lacks feature column(s): {', '.join(missing)}")


def _binary_labels(labels: npt.ArrayLike, rows: int, who: str) -> npt.NDArray[np.int8]:
    y = np.asarray(labels, dtype=np.float64).ravel()
    if y.size != rows:
        raise InputError(f"{who}: {y.size} labels for {rows} rows")
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError(f"{who}: labels must be 0 or 1 (drop unknown labels first)")
    if y.size == 0:
        raise InputError(f"{who}: no training rows")
    if y.min() == y.max():
        raise InputError(f"{who}: training rows hold only one class (label {int(y[0])})")
    return y.astype(np.int8)


def _finite_values(frame: pl.DataFrame, name: str) -> Floats:
    values = frame.get_column(name).cast(pl.Float64).drop_nulls().to_numpy().astype(np.float64)
    finite: Floats = values[np.isfinite(values)]
    return finite
