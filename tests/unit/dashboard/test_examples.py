from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from frisk.dashboard.charts import RISK_SCORE_CUTS
from frisk.dashboard.examples import default_transaction, random_transaction
from frisk.models.thresholds import RISK_SCORE_CUTS as MODEL_CUTS
from frisk.schema import Transaction


@given(st.integers(min_value=0, max_value=2**32))
def test_every_random_example_is_a_valid_transaction(seed: int) -> None:
    txn = random_transaction(random.Random(seed))
    parsed = Transaction.model_validate({k: v for k, v in txn.items() if v is not None})
    assert parsed.amount > 0
    assert parsed.transaction_id.startswith("ui-")


def test_the_default_is_valid_and_examples_differ() -> None:
    Transaction.model_validate(default_transaction())
    rng = random.Random(1)
    examples = [random_transaction(rng) for _ in range(50)]
    assert len({e["transaction_id"] for e in examples}) == 50
    assert len({e["amount"] for e in examples}) > 40
    assert len({e["channel"] for e in examples}) > 1


def test_the_gauge_bands_are_the_risk_score_cut_points() -> None:
    assert tuple(RISK_SCORE_CUTS) == tuple(MODEL_CUTS)
