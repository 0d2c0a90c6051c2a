"""Training on the labels known by an instant: late fraud labels count as legit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from frisk.errors import ModelError
from frisk.models.dataset import FeatureSpec
from frisk.models.train import TrainConfig, Trainer

START = datetime(2024, 1, 1, tzinfo=UTC)  # the synthetic data's first day (conftest)


def with_arrivals(events: pl.DataFrame) -> pl.DataFrame:
    # Every other fraud label arrives ten days after its transaction, the rest after one day.
    delay = pl.when(pl.int_range(pl.len()) % 2 == 0).then(timedelta(days=10))
    return events.with_columns(
        label_timestamp=pl.col("timestamp") + delay.otherwise(timedelta(days=1))
    )


def test_only_fraud_labels_that_arrived_count(
    synthetic: tuple[pl.DataFrame, pl.DataFrame],
    spec: FeatureSpec,
    make_config: Callable[..., TrainConfig],
) -> None:
    events, features = synthetic
    events = with_arrivals(events)
    as_of = START + timedelta(days=25)
    model = Trainer(make_config(labels_as_of=as_of)).fit(features, events, spec).model_
    training = model.metadata["training"]
    known = events.filter((pl.col("label") == 1) & (pl.col("label_timestamp") < as_of)).height
    assert training["frauds"] == known < int(events["label"].sum())
    assert training["rows"] == events.height  # late frauds are legit rows, not dropped
    assert training["labels_as_of"] == as_of.isoformat()
    full = Trainer(make_config()).fit(features, events, spec).model_.metadata["training"]
    assert full["frauds"] == int(events["label"].sum())
    assert full["labels_as_of"] is None


def test_labels_as_of_needs_arrival_times_and_a_zone(
    synthetic: tuple[pl.DataFrame, pl.DataFrame],
    spec: FeatureSpec,
    make_config: Callable[..., TrainConfig],
) -> None:
    events, features = synthetic
    as_of = START + timedelta(days=25)
    with pytest.raises(ModelError, match="label_timestamp"):
        Trainer(make_config(labels_as_of=as_of)).fit(features, events, spec)
    naive = as_of.replace(tzinfo=None)
    with pytest.raises(ModelError, match="time zone"):
        Trainer(make_config(labels_as_of=naive)).fit(features, with_arrivals(events), spec)
