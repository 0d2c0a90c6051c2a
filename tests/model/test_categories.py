"""High-cardinality categorical features cannot act as ids."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from frisk.models.dataset import FeatureSpec
from frisk.models.train import TrainConfig, Trainer


def test_an_id_like_category_gets_no_codes_and_the_cap_holds(
    synthetic: tuple[pl.DataFrame, pl.DataFrame],
    spec: FeatureSpec,
    make_config: Callable[..., TrainConfig],
) -> None:
    events, features = synthetic
    rng = np.random.default_rng(3)
    n = features.height
    features = features.with_columns(
        # ~4 rows per value: an id in all but name.
        near_id=pl.Series([f"id{v}" for v in rng.integers(0, n // 4, n)]),
        # 300 values of ~65 rows: each above the fixed minimum of 20 rows, below a 0.5% share.
        wide=pl.Series([f"w{v}" for v in rng.integers(0, 300, n)]),
        # 8 frequent values stay.
        narrow=pl.Series([f"n{v}" for v in rng.integers(0, 8, n)]),
    )
    extra = ("near_id", "wide", "narrow")
    wider = FeatureSpec(spec.names + extra, spec.categorical + extra)
    config = make_config(min_category_share=0.005)
    model = Trainer(config).fit(features, events, wider).model_
    vocabularies = model.encoder.vocabularies_
    assert vocabularies["near_id"] == {}
    assert vocabularies["wide"] == {}
    assert len(vocabularies["narrow"]) == 8
    fit_rows = model.metadata["training"]["fit_rows_used"]
    assert model.encoder.min_count == max(20, int(np.ceil(0.005 * fit_rows)))
    default = Trainer(make_config()).fit(features, events, wider).model_
    assert default.encoder.vocabularies_["near_id"] == {}
    assert 0 < len(default.encoder.vocabularies_["wide"]) <= default.encoder.max_categories
