from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from frisk.errors import ModelError
from frisk.models.dataset import FeatureSpec, time_split, to_matrix, window_mask
from frisk.models.encoding import CategoryEncoder


def test_window_is_half_open() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ts = pl.Series([t0 + timedelta(days=i) for i in range(5)], dtype=pl.Datetime("us", "UTC"))
    mask = window_mask(ts, t0 + timedelta(days=1), t0 + timedelta(days=3))
    assert mask.tolist() == [False, True, True, False, False]
    assert window_mask(ts).all()


def test_time_split_never_cuts_inside_an_instant() -> None:
    ts = np.repeat(np.arange(10, dtype=np.int64), 10)  # 10 instants of 10 events
    split = time_split(ts, np.arange(100, dtype=np.int64), holdout=0.25, calibration_share=0.5)
    assert ts[split.fit].max() < ts[split.stop].min()
    assert ts[split.stop].max() < ts[split.calibrate].min()
    assert split.fit.size + split.stop.size + split.calibrate.size == 100


def test_time_split_refuses_too_little_data() -> None:
    with pytest.raises(ModelError, match="widen the training window"):
        time_split(np.zeros(5, dtype=np.int64), np.arange(5, dtype=np.int64))


def test_string_feature_must_be_declared_categorical() -> None:
    frame = pl.DataFrame({"s": ["a"]})
    with pytest.raises(ModelError, match="declare string features categorical"):
        to_matrix(frame, FeatureSpec(("s",)), CategoryEncoder())
    with pytest.raises(ModelError, match="lacks column"):
        to_matrix(frame, FeatureSpec(("x",)), CategoryEncoder())
