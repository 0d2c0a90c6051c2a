from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from frisk.errors import ArtifactError
from frisk.models.dataset import FeatureSpec, to_matrix
from frisk.models.encoding import OTHER_CODE, CategoryEncoder


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {"x": [1.0, None, 3.0, 4.0, 5.0], "c": ["b", "a", "b", None, "rare"]},
        schema={"x": pl.Float64, "c": pl.String},
    )


def test_codes_by_frequency_then_value_with_rare_values_as_other() -> None:
    encoder = CategoryEncoder(min_count=1).fit(_frame(), ["c"])
    assert encoder.vocabularies_["c"] == {"b": 1, "a": 2, "rare": 3}
    encoder = CategoryEncoder(min_count=2).fit(_frame(), ["c"])
    assert encoder.vocabularies_["c"] == {"b": 1}


def test_matrix_keeps_missing_as_nan_and_unseen_as_other() -> None:
    encoder = CategoryEncoder(min_count=2).fit(_frame(), ["c"])
    spec = FeatureSpec(("x", "c"), ("c",))
    matrix = to_matrix(_frame(), spec, encoder)
    assert matrix.flags.f_contiguous  # column-major, as Polars lays it out and LightGBM reads it
    assert matrix.dtype == np.float64
    assert matrix[:, 1].tolist()[:3] == [1.0, OTHER_CODE, 1.0]
    assert math.isnan(matrix[3, 1])
    assert math.isnan(matrix[1, 0])
    assert encoder.code("never-seen", "c") == OTHER_CODE
    assert math.isnan(encoder.code(None, "c"))


def test_round_trip_and_malformed_dict() -> None:
    encoder = CategoryEncoder(min_count=1).fit(_frame(), ["c"])
    again = CategoryEncoder.from_dict(encoder.to_dict())
    assert again.vocabularies_ == encoder.vocabularies_
    with pytest.raises(ArtifactError, match="encoding is malformed"):
        CategoryEncoder.from_dict({"min_count": 1})
