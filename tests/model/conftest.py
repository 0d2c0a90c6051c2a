"""Synthetic feature frames for model tests: known signal, no feature engine needed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from frisk.models.dataset import FeatureSpec
from frisk.models.train import TrainConfig, Trainer

NUMERIC = (
    "amount",
    "amount_ratio_to_mean_by_payer_30d",
    "txn_count_by_payer_1h",
    "seconds_since_last_by_payer",
    "first_time_payer_payee",
)
CATEGORICAL = ("channel", "merchant_category")
SPEC = FeatureSpec(NUMERIC + CATEGORICAL, CATEGORICAL)
START = datetime(2024, 1, 1, tzinfo=UTC)

Synthetic = Callable[..., tuple[pl.DataFrame, pl.DataFrame]]


def make_synthetic(
    n: int = 20_000, seed: int = 0, fraud_shift: float = -5.5
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, features), same rows in time order; fraud grows with ratio, count, first-time."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, 30 * 86_400, n))
    timestamps = [START + timedelta(seconds=float(s)) for s in seconds]
    ratio = rng.lognormal(0.0, 0.6, n)
    count = rng.poisson(1.0, n).astype(np.float64)
    first = (rng.random(n) < 0.2).astype(np.float64)
    channel = rng.choice(["card", "upi", "wallet", "cash_out"], n, p=[0.5, 0.3, 0.15, 0.05])
    mcc = rng.choice(
        ["grocery", "travel", "gaming", "other", "rare1"], n, p=[0.4, 0.2, 0.2, 0.199, 0.001]
    )
    amount = np.round(rng.lognormal(3.5, 1.0, n) * ratio, 2)
    since = rng.exponential(3600.0, n)
    since[rng.random(n) < 0.1] = np.nan
    logit = (
        fraud_shift
        + 2.0 * np.log(ratio)
        + 0.6 * count
        + 1.2 * first
        + 1.5 * (channel == "cash_out")
    )
    label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    ids = [f"t{i:07d}" for i in range(n)]
    payers = [f"p{v}" for v in rng.integers(0, 500, n)]
    events = pl.DataFrame(
        {
            "transaction_id": ids,
            "timestamp": pl.Series(timestamps, dtype=pl.Datetime("us", "UTC")),
            "amount": amount,
            "payer_id": payers,
            "label": pl.Series(label, dtype=pl.Int8),
        }
    )
    mcc_list: list[str | None] = [None if i % 50 == 0 else str(v) for i, v in enumerate(mcc)]
    features = pl.DataFrame(
        {
            "transaction_id": ids,
            "amount": amount,
            "amount_ratio_to_mean_by_payer_30d": ratio,
            "txn_count_by_payer_1h": count,
            "seconds_since_last_by_payer": since,
            "first_time_payer_payee": first,
            "channel": channel.astype(str).tolist(),
            "merchant_category": pl.Series(mcc_list, dtype=pl.String),
        }
    )
    return events, features


def fast_config(**changes: object) -> TrainConfig:
    base: dict[str, object] = {
        "num_threads": 1,
        "num_boost_round": 80,
        "early_stopping_rounds": 10,
        "params": {"learning_rate": 0.1},
    }
    base.update(changes)
    return TrainConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def synthetic() -> tuple[pl.DataFrame, pl.DataFrame]:
    return make_synthetic()


@pytest.fixture(scope="session")
def trained(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> Trainer:
    events, features = synthetic
    # One time split: the tests of this fixture read its held-out part (split_.holdout), which
    # rolling validation would refit on (tests/model/test_little_data.py covers rolling).
    return Trainer(fast_config(validation="holdout")).fit(
        features, events, SPEC, catalogue={"name": "test", "version": "v1"}
    )


@pytest.fixture(scope="session")
def spec() -> FeatureSpec:
    return SPEC


@pytest.fixture(scope="session")
def make_data() -> Callable[..., tuple[pl.DataFrame, pl.DataFrame]]:
    return make_synthetic


@pytest.fixture(scope="session")
def make_config() -> Callable[..., TrainConfig]:
    return fast_config
