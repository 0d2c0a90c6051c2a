"""How many trees a booster keeps: up to the last gain above a tolerance."""

from __future__ import annotations

import math

from frisk.models.train import _fewest_trees


def test_trees_end_at_the_last_gain_above_the_tolerance() -> None:
    curve = [0.50, 0.80, 0.8005, 0.801, 0.7]
    assert _fewest_trees(curve, 0.001, 30) == 2
    assert _fewest_trees(curve, 0.0, 30) == 4
    assert _fewest_trees([math.nan, 0.3, 0.3], 0.001, 30) == 2


def test_a_late_gain_counts_only_within_the_patience() -> None:
    curve = [0.1, 0.2, 0.2, 0.2, 0.9]
    assert _fewest_trees(curve, 0.001, 2) == 2
    assert _fewest_trees(curve, 0.001, 10) == 5
