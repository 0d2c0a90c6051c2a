"""Training with little data: rolling-origin folds pick the trees, the booster is refitted on every
row, calibration and thresholds come from out-of-fold margins, and the log says what was chosen."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from frisk.cli.train import summary
from frisk.errors import ModelError
from frisk.models.dataset import FeatureSpec
from frisk.models.train import TrainConfig, Trainer
from frisk.models.validation import average_curve, rolling_folds

from .conftest import START

Data = tuple[pl.DataFrame, pl.DataFrame]


def test_folds_roll_forward_and_never_train_on_their_block() -> None:
    ts = np.repeat(np.arange(50, dtype=np.int64), 2)  # pairs share an instant
    rows = np.arange(ts.size, dtype=np.int64)
    folds = rolling_folds(ts, rows, 0.3, 3)
    assert len(folds) == 3
    for fold in folds:
        assert ts[fold.train].max() < ts[fold.valid].min()  # an instant never on both sides
        assert np.array_equal(fold.train, rows[: fold.valid[0]])  # every earlier row
    blocks = np.concatenate([f.valid for f in folds])
    assert np.array_equal(blocks, rows[rows.size - blocks.size :])  # the last 30%, in order
    assert blocks.size == pytest.approx(30, abs=2)


def test_folds_refuse_too_little_data() -> None:
    with pytest.raises(ModelError, match="rolling validation folds"):
        rolling_folds(np.zeros(5, dtype=np.int64), np.arange(5, dtype=np.int64), 0.3, 3)


def test_curves_average_round_by_round_holding_a_stopped_fold_at_its_last_value() -> None:
    mean = average_curve([[0.1, 0.5, 0.6], [0.3, 0.7], [float("nan")] * 3])
    assert mean == pytest.approx([0.2, 0.6, 0.65])
    assert average_curve([]) == []


def test_rolling_refits_on_every_row_and_says_what_it_chose(
    make_data: Callable[..., Data], spec: FeatureSpec, make_config: Callable[..., TrainConfig]
) -> None:
    events, features = make_data(n=8_000, seed=11, fraud_shift=-4.5)
    model = Trainer(make_config()).fit(features, events, spec).model_
    training = model.metadata["training"]
    validation = training["validation"]
    assert validation["method"] == "rolling"
    assert len(validation["folds"]) == 3
    assert validation["trees"] == training["num_trees"]
    assert training["fit_rows_used"] == training["rows"] == events.height
    assert (
        sum(f["valid_frauds"] for f in validation["folds"])
        == model.metadata["calibration"]["frauds"]
    )
    text = "\n".join(summary(model.metadata))
    assert "rolling-origin folds" in text
    assert f"{training['num_trees']} trees: the folds' mean average precision" in text
    assert "calibration: " in text
    assert "held-out events" in text


def test_rolling_is_deterministic(
    make_data: Callable[..., Data], spec: FeatureSpec, make_config: Callable[..., TrainConfig]
) -> None:
    events, features = make_data(n=5_000, seed=12, fraud_shift=-4.0)
    a = Trainer(make_config(seed=3)).fit(features, events, spec).model_
    b = Trainer(make_config(seed=3)).fit(features, events, spec).model_
    assert a.booster.model_to_string() == b.booster.model_to_string()
    assert np.array_equal(a.score_many(features), b.score_many(features))


def test_thresholds_from_out_of_fold_scores_hold_on_the_weeks_after(
    make_data: Callable[..., Data], spec: FeatureSpec, make_config: Callable[..., TrainConfig]
) -> None:
    """Trained on the first 20 days, the review threshold alerts about the budget afterwards."""
    events, features = make_data(n=40_000, seed=13, fraud_shift=-5.0)
    end = START + timedelta(days=20)
    config = make_config(alert_budget=0.02)
    model = Trainer(config).fit(features, events, spec, end=end).model_
    later = events.get_column("timestamp") >= end
    scores = model.score_many(features.filter(later))
    share = float(np.mean(scores >= model.thresholds.review))
    assert share == pytest.approx(0.02, rel=0.35)


def test_auto_falls_back_to_one_split_above_the_row_limit(
    make_data: Callable[..., Data], spec: FeatureSpec, make_config: Callable[..., TrainConfig]
) -> None:
    events, features = make_data(n=4_000, seed=14, fraud_shift=-4.0)
    trained = Trainer(make_config(rolling_max_rows=1_000)).fit(features, events, spec)
    assert trained.model_.metadata["training"]["validation"]["method"] == "holdout"
    with pytest.raises(ModelError, match="validation 'nope'"):
        Trainer(make_config(validation="nope")).fit(features, events, spec)
