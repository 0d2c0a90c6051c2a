"""``FraudModel``: a trained model ready to score, one event or a whole features frame.

Scoring is booster margin -> calibrated probability (``np.interp``) -> risk score, tier and action
from the thresholds. The batch path feeds one float64 matrix to ``Booster.predict``; the single-row
path skips LightGBM's Python wrapper (see ``fastpath``). Both read the same encoding, so they give
the same probability for the same features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from frisk.errors import ModelError
from frisk.models.calibration import Calibrator
from frisk.models.dataset import FeatureSpec, to_matrix
from frisk.models.encoding import CategoryEncoder
from frisk.models.fastpath import CONTRIB, SingleRowPredictor
from frisk.models.thresholds import ACTION_OF_LEVEL, TIER_OF_LEVEL, Thresholds

__all__ = ["FeatureValue", "FraudModel"]

FeatureValue = float | int | str | bool | None
Floats = npt.NDArray[np.float64]


class FraudModel:
    """Booster, encoding, calibration and thresholds of one trained model, plus its metadata.

    ``thresholds`` may be replaced at serve time (``with_thresholds``); everything else is what
    training produced. ``catalogue`` is the feature catalogue's ``to_dict()``, kept verbatim.
    """

    def __init__(
        self,
        booster: Any,
        spec: FeatureSpec,
        encoder: CategoryEncoder,
        calibrator: Calibrator,
        thresholds: Thresholds,
        *,
        catalogue: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        num_threads: int = 0,
    ) -> None:
        self.booster = booster
        self.spec = spec
        self.encoder = encoder
        self.calibrator = calibrator
        self.thresholds = thresholds
        self.catalogue = dict(catalogue or {})
        self.metadata = dict(metadata or {})
        self.num_threads = num_threads  # 0: LightGBM's default (all cores)
        self._single = SingleRowPredictor(booster, len(spec.names))
        self._contrib = SingleRowPredictor(booster, len(spec.names), CONTRIB)
        self._categorical = [
            (i, name) for i, name in enumerate(spec.names) if name in set(spec.categorical)
        ]

    @property
    def feature_names(self) -> list[str]:
        return list(self.spec.names)

    @property
    def version(self) -> str | None:
        """The registry version, or the artifact id when it was never registered."""
        value = self.metadata.get("version") or self.metadata.get("artifact_id")
        return None if value is None else str(value)

    def with_thresholds(self, thresholds: Thresholds) -> FraudModel:
        """The same model deciding with other thresholds (the booster is shared, not copied)."""
        return FraudModel(
            self.booster,
            self.spec,
            self.encoder,
            self.calibrator,
            thresholds,
            catalogue=self.catalogue,
            metadata=self.metadata,
            num_threads=self.num_threads,
        )

    # -- batch -----------------------------------------------------------------------------

    def matrix(self, features: pl.DataFrame) -> Floats:
        """The float64 matrix the booster reads for a features frame."""
        return to_matrix(features, self.spec, self.encoder)

    def margins(self, matrix: Floats) -> Floats:
        """Raw booster margins of a feature matrix."""
        if matrix.ndim != 2 or matrix.shape[1] != len(self.spec.names):
            raise ModelError(
                f"feature matrix has shape {matrix.shape}; expected (n, {len(self.spec.names)})"
            )
        if matrix.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        params = {"num_threads": self.num_threads} if self.num_threads else {}
        try:
            raw = self.booster.predict(matrix, raw_score=True, **params)
        except Exception as exc:  # lightgbm raises its own error and ValueError/TypeError
            raise ModelError(f"lightgbm predict failed: {exc}") from exc
        return np.asarray(raw, dtype=np.float64)

    def score_many(self, features: pl.DataFrame) -> Floats:
        """Calibrated fraud probabilities of every row of a features frame, in row order."""
        return self.calibrator.transform(self.margins(self.matrix(features)))

    def assess_many(self, features: pl.DataFrame) -> pl.DataFrame:
        """``score``, ``risk_score``, ``risk_tier`` and ``action`` of every row, in row order."""
        scores = self.score_many(features)
        return self.assess_scores(scores)

    def assess_scores(self, scores: Floats) -> pl.DataFrame:
        """Risk score, tier and action of calibrated probabilities."""
        t = self.thresholds
        # Gathering from the four level names is ~20x faster than building object arrays.
        levels = pl.Series(t.levels(scores), dtype=pl.UInt32)
        return pl.DataFrame(
            {
                "score": scores,
                "risk_score": t.risk_scores(scores),
                "risk_tier": pl.Series(TIER_OF_LEVEL, dtype=pl.String).gather(levels),
                "action": pl.Series(ACTION_OF_LEVEL, dtype=pl.String).gather(levels),
            }
        )

    # -- one event -------------------------------------------------------------------------

    def row(self, vector: Sequence[FeatureValue]) -> Floats:
        """The booster's float64 row for one feature vector in ``feature_names`` order."""
        if len(vector) != len(self.spec.names):
            raise ModelError(
                f"feature vector has {len(vector)} value(s); the model reads {len(self.spec.names)}"
            )
        values: list[Any] = list(vector)
        for i, name in self._categorical:
            values[i] = self.encoder.code(values[i], name)
        try:  # NumPy reads None as NaN in a float64 array
            return np.array(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"feature vector holds a non-numeric value: {exc}") from exc

    def margin_one(self, vector: Sequence[FeatureValue]) -> float:
        return self._single.margin(self.row(vector))

    def score_one(self, vector: Sequence[FeatureValue]) -> float:
        """Calibrated fraud probability of one feature vector (``OnlineFeatures.update`` output)."""
        return self.calibrator.one(self.margin_one(vector))

    def contributions_one(self, vector: Sequence[FeatureValue]) -> Floats:
        """TreeSHAP contributions to the margin, one per feature and the bias last."""
        return self._contrib.predict(self.row(vector))

    def contributions(self, matrix: Floats) -> Floats:
        """TreeSHAP contributions of a matrix: shape (n, features + 1), bias in the last column."""
        if matrix.shape[0] == 0:
            return np.empty((0, len(self.spec.names) + 1), dtype=np.float64)
        params = {"num_threads": self.num_threads} if self.num_threads else {}
        try:
            out = self.booster.predict(matrix, pred_contrib=True, **params)
        except Exception as exc:
            raise ModelError(f"lightgbm contributions failed: {exc}") from exc
        return np.asarray(out, dtype=np.float64)
