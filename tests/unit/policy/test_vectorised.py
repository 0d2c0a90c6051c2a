"""Cases where Polars' optimiser once returned one row for a whole frame (found by test_parity)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from frisk.policy import parse_rule
from frisk.policy.vectorised import to_polars

VARS = {"a": "number"}


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [
        ("0.0 < (a - a)", [math.inf, math.inf, math.inf], [False, False, False]),
        ("0.0 < -(a)", [None, None], [False, False]),
        ("0.0 < -(a)", [math.nan, math.nan], [False, False]),
        ("0.0 < a", [math.nan, math.nan], [False, False]),
        ("-(a) <= 0.0", [None, math.nan, -1.0, 2.0], [False, False, False, True]),
    ],
)
def test_one_truth_value_per_row(
    expression: str, values: list[float | None], expected: list[bool]
) -> None:
    frame = pl.DataFrame({"a": pl.Series(values, dtype=pl.Float64)})
    node = parse_rule(expression, VARS, {})
    assert frame.select(to_polars(node, {}).alias("r"))["r"].to_list() == expected
