"""From an event table to a trained model, and from a model and events to scored rows.

Features are computed by the offline executor over the whole table, so every event sees its full
history (point in time: only earlier events and labels that had arrived); the window
``[start, end)`` then picks the rows to train on or to score.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from frisk.errors import ArtifactError, FeatureError, ModelError
from frisk.models.dataset import FeatureSpec, window_mask
from frisk.models.explain import explain_many, reasons_text
from frisk.models.scoring import FraudModel
from frisk.models.train import TrainConfig, Trainer

if TYPE_CHECKING:
    from frisk.features import Catalogue

__all__ = ["featurize", "score_events", "train_events"]


def featurize(table: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """Offline features of every event of ``table`` (same rows and order)."""
    from frisk.features import compute_offline

    features: pl.DataFrame = compute_offline(table, catalogue)
    return features


def train_events(
    table: pl.DataFrame,
    *,
    catalogue: str = "default",
    start: datetime | None = None,
    end: datetime | None = None,
    config: TrainConfig | None = None,
) -> FraudModel:
    """Features over all of ``table``, then a model trained on its labelled events in the window."""
    from frisk.features import resolve_catalogue

    began = time.perf_counter()
    resolved = resolve_catalogue(catalogue, table)
    features = featurize(table, resolved)
    feature_seconds = time.perf_counter() - began
    spec = FeatureSpec(tuple(resolved.names), tuple(resolved.categorical))
    trainer = Trainer(config).fit(
        features, table, spec, catalogue=resolved.to_dict(), start=start, end=end
    )
    model = trainer.model_
    model.metadata["training"]["feature_seconds"] = round(feature_seconds, 3)
    model.metadata["training"]["events_in_table"] = table.height
    return model


def score_events(
    model: FraudModel,
    table: pl.DataFrame,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    reasons: int = 3,
    explain_all: bool = False,
) -> pl.DataFrame:
    """One row per event in ``[start, end)``: id, time, score, risk score, tier, action, reasons.

    Reasons (the ``reasons`` top sentences, "; "-joined) are given for review and block rows
    only unless ``explain_all``: contributions cost tens of predictions each.
    """
    features = featurize(table, model_catalogue(model))
    keep = window_mask(table.get_column("timestamp"), start, end)
    rows = np.flatnonzero(keep)
    selected = features[rows]
    assessed = model.assess_many(selected)
    out = pl.concat([table[rows].select("transaction_id", "timestamp"), assessed], how="horizontal")
    if reasons > 0:
        wanted = np.flatnonzero(
            np.ones(out.height, dtype=bool)
            if explain_all
            else (assessed.get_column("action") != "allow").to_numpy()
        )
        texts: list[str | None] = [None] * out.height
        for i, found in zip(wanted, explain_many(model, selected[wanted], reasons), strict=True):
            texts[int(i)] = reasons_text(found)
        out = out.with_columns(pl.Series("reasons", texts, dtype=pl.String))
    return out


def model_catalogue(model: FraudModel) -> Catalogue:
    """The feature catalogue a model was trained with, rebuilt from its artifact."""
    from frisk.features import Catalogue

    if "features" not in model.catalogue:
        raise ModelError(
            "this model stores no feature catalogue (trained on a ready-made feature frame); "
            "score it with FraudModel.score_many on features instead"
        )
    try:
        return Catalogue.from_dict(dict(model.catalogue))
    except FeatureError as exc:
        raise ArtifactError(f"the model's feature catalogue cannot be rebuilt: {exc}") from exc
