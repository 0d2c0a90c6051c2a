from __future__ import annotations

import math

import numpy as np

from frisk.models.explain import _reasons


def test_amount_and_log_amount_are_one_reason_with_their_contributions_added() -> None:
    names = ["amount", "log_amount", "txn_count_by_payer_1h"]
    values: list[object] = [2500.0, math.log(2500.0), 3.0]
    reasons = _reasons(names, values, np.array([1.0, 0.8, 1.5]), 3, False)  # type: ignore[arg-type]
    assert [r.feature for r in reasons] == ["amount", "txn_count_by_payer_1h"]
    assert reasons[0].contribution == 1.8
    assert reasons[0].value == 2500.0


def test_amount_sentence_compares_with_the_payers_own_baseline() -> None:
    names = ["amount", "amount_ratio_mean_by_payer_last50"]
    reasons = _reasons(names, [2500.0, 8.25], np.array([2.0, 0.1]), 1, False)
    assert reasons[0].text == "amount 2,500.00 is 8.2\u00d7 this payer's average payment"
    fresh = _reasons(names, [2500.0, float("nan")], np.array([2.0, 0.1]), 1, False)
    assert "no earlier payments" in fresh[0].text


def test_only_features_that_raised_the_score_are_reasons() -> None:
    reasons = _reasons(["amount", "is_night"], [10.0, 1.0], np.array([-0.5, 0.2]), 3, False)
    assert [r.feature for r in reasons] == ["is_night"]
