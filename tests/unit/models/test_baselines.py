"""Baselines: the estimator contract, determinism, and that they learn the obvious signal."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from frisk.errors import InputError, ModelError
from frisk.models.baselines import LogisticBaseline, RuleBaseline, pick_rule_features
from frisk.models.metrics import roc_auc


def _frame(n: int, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(np.int8)
    amount = rng.lognormal(3, 1, n) * np.where(y == 1, 4.0, 1.0)
    ratio = amount / rng.uniform(10, 40, n)
    ratio[rng.random(n) < 0.1] = np.nan
    frame = pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "amount": amount,
            "amount_ratio_mean_by_payer_last50": ratio,
            "txn_count_by_payer_1h": rng.poisson(1 + 3 * y).astype(np.int64),
            "txn_count_by_payer_24h": rng.poisson(5, n).astype(np.int64),
            "channel": rng.choice(["card", "upi", "wallet"], n).tolist(),
            "hour": rng.integers(0, 24, n).astype(np.float64),
        }
    ).with_columns(
        pl.when(pl.col("hour") > 20).then(None).otherwise(pl.col("channel")).alias("channel")
    )
    return frame, y


def test_logistic_learns_and_is_deterministic() -> None:
    frame, y = _frame(3000)
    model = LogisticBaseline(categorical=["channel"]).fit(frame, y)
    assert model.converged_
    assert model.categorical_ == ["channel"]
    assert "transaction_id" not in model.numeric_
    test, y_test = _frame(2000, seed=1)
    scores = model.score_many(test)
    assert scores.shape == (2000,)
    assert roc_auc(y_test, scores) > 0.8
    again = LogisticBaseline(categorical=["channel"]).fit(frame, y).score_many(test)
    np.testing.assert_array_equal(scores, again)
    assert "1 categorical" in model.describe()


def test_logistic_handles_unseen_categories_infinities_and_all_missing() -> None:
    frame, y = _frame(500)
    frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("empty"))
    model = LogisticBaseline().fit(frame, y)
    test = frame.head(3).with_columns(
        pl.Series("channel", ["never-seen", None, "card"]),
        pl.Series("amount_ratio_mean_by_payer_last50", [np.inf, np.nan, 1.0]),
    )
    scores = model.score_many(test)
    assert np.isfinite(scores).all()
    assert model.score_many(frame.head(0)).shape == (0,)


def test_logistic_refuses_what_it_cannot_fit() -> None:
    frame, y = _frame(50)
    with pytest.raises(InputError, match="one class"):
        LogisticBaseline().fit(frame, np.zeros(50))
    with pytest.raises(InputError, match="49 labels for 50 rows"):
        LogisticBaseline().fit(frame, y[:49])
    with pytest.raises(ModelError, match="before fit"):
        LogisticBaseline().score_many(frame)
    model = LogisticBaseline().fit(frame, y)
    with pytest.raises(InputError, match="hour"):
        model.score_many(frame.drop("hour"))


def test_rule_picks_amount_and_velocity_features() -> None:
    frame, y = _frame(2000)
    assert pick_rule_features(frame) == [
        "amount",
        "amount_ratio_mean_by_payer_last50",
        "txn_count_by_payer_1h",
        "txn_count_by_payer_24h",
    ]
    rule = RuleBaseline().fit(frame, y)
    scores = rule.score_many(frame)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert roc_auc(y, scores) > 0.75
    assert rule.describe().startswith("rank mean of amount, amount_ratio")


def test_rule_falls_back_to_amount_alone() -> None:
    frame = pl.DataFrame({"amount": [1.0, 5.0, 3.0, 10.0], "device_count": [1, 2, 3, 4]})
    rule = RuleBaseline().fit(frame)
    assert rule.features_ == ["amount"]
    np.testing.assert_allclose(rule.score_many(frame), [0.125, 0.625, 0.375, 0.875])
    # Beyond the training range: 0 below, 1 above; missing is neutral.
    unseen = pl.DataFrame({"amount": [0.5, 20.0, None]})
    np.testing.assert_allclose(rule.score_many(unseen), [0.0, 1.0, 0.5])


def test_rule_without_amount_is_refused() -> None:
    with pytest.raises(InputError, match="amount"):
        RuleBaseline().fit(pl.DataFrame({"x": [1.0]}))
    with pytest.raises(ModelError, match="before fit"):
        RuleBaseline().score_many(pl.DataFrame({"amount": [1.0]}))


def test_logistic_samples_legit_rows_above_max_rows() -> None:
    frame, y = _frame(3000)
    model = LogisticBaseline(categorical=["channel"], max_rows=800).fit(frame, y)
    assert model.rows_ == pytest.approx(800, abs=80)
    assert model.legit_rate_ < 1
    assert "sampled" in model.describe()
    test, y_test = _frame(2000, seed=1)
    scores = model.score_many(test)
    assert roc_auc(y_test, scores) > 0.8
    again = LogisticBaseline(categorical=["channel"], max_rows=800).fit(frame, y)
    np.testing.assert_array_equal(scores, again.score_many(test))
    assert LogisticBaseline(max_rows=None).fit(frame, y).rows_ == 3000
