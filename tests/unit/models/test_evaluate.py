"""Evaluation orchestration: windows, baselines on the training window, honest refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from frisk.data.table import conform
from frisk.errors import InputError
from frisk.models.evaluate import (
    MODEL,
    Window,
    evaluate_model,
    feature_importances,
    training_window,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def synthetic(
    days: int = 20, per_day: int = 300, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """An event table and its feature frame where large, fast spending is fraud."""
    rng = np.random.default_rng(seed)
    n = days * per_day
    fraud = rng.random(n) < 0.05
    amount = rng.lognormal(3, 0.8, n) * np.where(fraud, 3.0, 1.0)
    label = np.where(fraud, 1, 0).astype(float)
    label[rng.random(n) < 0.02] = np.nan  # a few unknown outcomes
    table = conform(
        pl.DataFrame(
            {
                "transaction_id": [f"t{i:06d}" for i in range(n)],
                "timestamp": [
                    T0 + timedelta(seconds=int(s))
                    for s in np.sort(rng.integers(0, days * 86_400, n))
                ],
                "amount": amount,
                "currency": ["EUR"] * n,
                "payer_id": [f"p{i}" for i in rng.integers(0, 400, n)],
                "payee_id": [f"m{i}" for i in rng.integers(0, 50, n)],
                "channel": rng.choice(["card", "upi"], n).tolist(),
                "label": pl.Series(label).fill_nan(None).cast(pl.Int8),
                "scenario": [
                    ("card_testing" if i % 3 else "account_takeover") if f else None
                    for i, f in enumerate(fraud)
                ],
            }
        )
    )
    is_fraud = table.get_column("label").fill_null(0).to_numpy() == 1
    features = table.select(
        "transaction_id",
        (pl.col("amount") / 20.0).alias("amount_ratio_mean_by_payer_last50"),
        pl.Series("txn_count_by_payer_1h", rng.poisson(1 + 2 * is_fraud)).cast(pl.Int64),
        pl.col("channel"),
    )
    return table, features


class FakeModel:
    """Scores with a noisy copy of the truth; remembers how many rows it saw."""

    def __init__(self, table: pl.DataFrame) -> None:
        self.truth = dict(zip(table["transaction_id"], table["label"].fill_null(0), strict=True))
        self.seen: list[int] = []

    def score_many(self, frame: pl.DataFrame) -> np.ndarray:
        self.seen.append(frame.height)
        y = np.array([self.truth[t] for t in frame["transaction_id"]], dtype=float)
        rng = np.random.default_rng(1)
        return np.clip(0.02 + 0.6 * y + rng.normal(0, 0.15, frame.height), 0, 1)


def test_model_and_baselines_on_the_same_test_rows() -> None:
    table, features = synthetic()
    model = FakeModel(table)
    result = evaluate_model(
        model,
        table,
        features,
        T0 + timedelta(days=14),
        T0 + timedelta(days=20),
        0.02,
        k=10,
        train=Window(T0, T0 + timedelta(days=14)),
        categorical=["channel"],
        importances={"amount_ratio_mean_by_payer_last50": 3.0},
    )
    in_window = table.filter(pl.col("timestamp") >= T0 + timedelta(days=14))
    assert result.rows == in_window.height
    assert result.unlabelled == in_window["label"].null_count() > 0
    assert model.seen == [result.rows - result.unlabelled]
    assert list(result.metrics) == [MODEL, "logistic_regression", "amount_velocity_rule"]
    for m in result.metrics.values():
        assert m.events == result.rows - result.unlabelled
        assert m.roc_auc > 0.7
    assert result.metrics[MODEL].calibration is not None
    assert result.metrics["logistic_regression"].calibration is None
    assert "txn_count_by_payer_1h" in result.descriptions["amount_velocity_rule"]
    assert "amount," in result.descriptions["amount_velocity_rule"]
    comparison = result.comparison()
    assert [r["scorer"] for r in comparison] == list(result.metrics)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["train_window"]["end"] == "2024-01-15T00:00:00+00:00"
    assert data["metrics"][MODEL]["scenarios"][0]["scenario"] == "account_takeover"


def test_without_baselines_no_training_window_is_needed() -> None:
    table, features = synthetic(days=4)
    result = evaluate_model(FakeModel(table), table, features, None, None, 0.01, baselines=False)
    assert list(result.metrics) == [MODEL]
    assert result.rows == table.height


def test_overlapping_windows_are_refused_unless_allowed() -> None:
    table, features = synthetic(days=4)
    train = Window(T0, T0 + timedelta(days=3))
    later = T0 + timedelta(days=2)
    with pytest.raises(InputError, match="overlaps the training window"):
        evaluate_model(FakeModel(table), table, features, later, None, train=train)
    result = evaluate_model(
        FakeModel(table), table, features, later, None, train=train, allow_overlap=True
    )
    assert result.metrics[MODEL].events > 0


def test_refusals_name_the_problem() -> None:
    table, features = synthetic(days=3)
    model = FakeModel(table)
    with pytest.raises(InputError, match="training window"):
        evaluate_model(model, table, features, None, None)
    with pytest.raises(InputError, match="no labelled events in the test window"):
        evaluate_model(model, table, features, T0 + timedelta(days=30), None, baselines=False)
    with pytest.raises(InputError, match="rows"):
        evaluate_model(model, table, features.head(10), None, None, baselines=False)
    with pytest.raises(InputError, match="order"):
        evaluate_model(model, table, features.reverse(), None, None, baselines=False)


def test_window_overlap_and_mask() -> None:
    day = timedelta(days=1)
    assert not Window(T0, T0 + day).overlaps(Window(T0 + day, None))
    assert Window(None, None).overlaps(Window(T0, T0 + day))
    assert Window(T0, T0 + 2 * day).overlaps(Window(T0 + day, T0 + 3 * day))
    stamps = pl.Series([T0, T0 + day, T0 + 2 * day])
    assert Window(T0 + day, T0 + 2 * day).mask(stamps).to_list() == [False, True, False]


def test_training_window_and_importances_from_metadata() -> None:
    metadata = {
        "training": {"start": None, "end": "2024-01-15T00:00:00+00:00", "rows": 10},
        "feature_importance": {"amount": 12, "txn_count_by_payer_1h": 3.5},
    }
    assert training_window(metadata) == Window(None, T0 + timedelta(days=14))
    assert feature_importances(metadata) == {"amount": 12.0, "txn_count_by_payer_1h": 3.5}
    assert training_window({}) is None
    assert feature_importances({}) == {}
    with pytest.raises(InputError, match=r"training\.end"):
        training_window({"training": {"start": None, "end": "yesterday"}})
