"""Behavioural checks of trained models: what any fraud model here must do."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from frisk.models import FeatureSpec, TrainConfig
from frisk.models.train import Trainer

Data = tuple[pl.DataFrame, pl.DataFrame]


def test_higher_amount_ratio_scores_higher(trained: Trainer, synthetic: Data) -> None:
    """Fraud grows with the amount ratio in the data: so must the score, other things equal."""
    _, features = synthetic
    base = features.head(300)
    scores = [
        trained.model_.score_many(base.with_columns(amount_ratio_to_mean_by_payer_30d=pl.lit(r)))
        for r in (0.5, 1.0, 3.0, 10.0)
    ]
    means = [float(s.mean()) for s in scores]
    assert means == sorted(means)
    assert means[-1] > 2 * means[0]
    # Per event: raising the ratio never lowers the score by more than noise.
    assert np.mean(scores[-1] >= scores[0]) > 0.95


def test_renaming_ids_consistently_never_changes_a_score(
    make_data: Callable[..., Data], spec: FeatureSpec, make_config: Callable[..., TrainConfig]
) -> None:
    events, features = make_data(n=6_000, seed=3, fraud_shift=-4.0)
    renamed_ids = pl.col("transaction_id").str.replace("t", "renamed-")
    renamed_events = events.with_columns(renamed_ids, pl.col("payer_id").str.replace("p", "payer#"))
    renamed_features = features.with_columns(renamed_ids)
    config = make_config(num_boost_round=30)
    a = Trainer(config).fit(features, events, spec).model_
    b = Trainer(config).fit(renamed_features, renamed_events, spec).model_
    assert np.array_equal(a.score_many(features), b.score_many(renamed_features))
    # The fingerprint does see the ids: it identifies the exact training rows.
    assert a.metadata["data_fingerprint"] != b.metadata["data_fingerprint"]


def test_same_seed_same_model_other_seed_other_model(
    make_data: Callable[..., Data], spec: FeatureSpec, make_config: Callable[..., TrainConfig]
) -> None:
    events, features = make_data(n=6_000, seed=4, fraud_shift=-4.0)
    first = Trainer(make_config(seed=1)).fit(features, events, spec).model_
    again = Trainer(make_config(seed=1)).fit(features, events, spec).model_
    other = Trainer(make_config(seed=2)).fit(features, events, spec).model_
    assert first.booster.model_to_string() == again.booster.model_to_string()
    assert np.array_equal(first.score_many(features), again.score_many(features))
    assert not np.array_equal(first.score_many(features), other.score_many(features))


def test_thresholds_hit_the_budget_on_validation(trained: Trainer, synthetic: Data) -> None:
    _, features = synthetic
    model = trained.model_
    holdout = features[trained.split_.holdout]
    scores = model.score_many(holdout)
    review_share = float(np.mean(scores >= model.thresholds.review))
    assert review_share == pytest.approx(0.005, abs=1.5 / holdout.height)
    assert float(np.mean(scores >= model.thresholds.block)) == pytest.approx(
        0.001, abs=1.5 / holdout.height
    )
    assessed = model.assess_many(holdout)
    assert float((assessed["action"] != "allow").mean()) == pytest.approx(review_share)


def test_calibrated_scores_are_probabilities(trained: Trainer, synthetic: Data) -> None:
    events, features = synthetic
    scores = trained.model_.score_many(features)
    assert 0.0 <= scores.min() <= scores.max() <= 1.0
    calibrate = trained.split_.calibrate
    observed = float(events["label"].to_numpy()[calibrate].mean())
    # Centred isotonic interpolates between block means: close to, not exactly, the rate.
    assert float(scores[calibrate].mean()) == pytest.approx(observed, rel=0.15)


def test_single_row_path_equals_batch(trained: Trainer, synthetic: Data) -> None:
    _, features = synthetic
    batch = trained.model_.score_many(features.head(200))
    rows = features.drop("transaction_id").head(200).iter_rows()
    one = np.array([trained.model_.score_one(list(r)) for r in rows])
    np.testing.assert_allclose(one, batch, rtol=0, atol=1e-12)


def test_unseen_and_missing_categories_score(trained: Trainer, synthetic: Data) -> None:
    _, features = synthetic
    row = list(features.drop("transaction_id").row(0))
    row[-2], row[-1] = "teleport", None
    assert 0.0 <= trained.model_.score_one(row) <= 1.0


def test_search_is_seeded_and_keeps_explicit_overrides(
    make_data: Callable[..., Data], spec: FeatureSpec, make_config: Callable[..., TrainConfig]
) -> None:
    events, features = make_data(n=6_000, seed=5, fraud_shift=-4.0)
    config = make_config(search=3, num_boost_round=20, params={"learning_rate": 0.2})
    first = Trainer(config).fit(features, events, spec).model_.metadata["training"]
    again = Trainer(config).fit(features, events, spec).model_.metadata["training"]
    assert [t["params"] for t in first["search"]] == [t["params"] for t in again["search"]]
    assert len(first["search"]) == 3
    assert first["params"]["learning_rate"] == 0.2
    best = max(first["search"], key=lambda t: t["stop_average_precision"])
    assert first["params"]["num_leaves"] == best["params"]["num_leaves"]


def test_huge_fit_parts_sample_legit_rows_and_keep_every_fraud(
    make_data: Callable[..., Data], spec: FeatureSpec, make_config: Callable[..., TrainConfig]
) -> None:
    events, features = make_data(n=6_000, seed=6, fraud_shift=-4.0)
    training = Trainer(make_config(max_fit_rows=2_000)).fit(features, events, spec)
    meta = training.model_.metadata["training"]
    assert meta["legit_sample_rate"] < 1.0
    assert meta["fit_rows_used"] == pytest.approx(2_000, rel=0.1)
    assert meta["parts"]["fit"]["rows"] > meta["fit_rows_used"]
