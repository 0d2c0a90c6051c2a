"""Explanations: TreeSHAP from the booster, turned into sentences."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from frisk.models.explain import describe, explain_many, explain_one, reasons_text
from frisk.models.train import Trainer


def test_contributions_add_up_to_the_margin(
    trained: Trainer, synthetic: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    _, features = synthetic
    model = trained.model_
    head = features.head(50)
    contributions = model.contributions(model.matrix(head))
    np.testing.assert_allclose(
        contributions.sum(axis=1), model.margins(model.matrix(head)), atol=1e-9
    )
    row = list(head.drop("transaction_id").row(7))
    first = model.contributions_one(row)
    np.testing.assert_allclose(first, contributions[7], atol=1e-12)
    # Each call's own array: the predictor's reused output buffer must not show through.
    model.contributions_one(list(head.drop("transaction_id").row(8)))
    np.testing.assert_allclose(first, contributions[7], atol=1e-12)


def test_the_riskiest_event_is_explained_by_what_drives_fraud(
    trained: Trainer, synthetic: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    _, features = synthetic
    model = trained.model_
    top = int(np.argmax(model.score_many(features)))
    row = list(features.drop("transaction_id").row(top))
    reasons = explain_one(model, row, top=3)
    assert 1 <= len(reasons) <= 3
    assert all(r.contribution > 0 for r in reasons)
    assert [r.contribution for r in reasons] == sorted(
        (r.contribution for r in reasons), reverse=True
    )
    drivers = {
        "amount_ratio_to_mean_by_payer_30d",
        "txn_count_by_payer_1h",
        "first_time_payer_payee",
        "channel",
        "amount",
    }
    assert reasons[0].feature in drivers
    batch = explain_many(model, features[[top]], top=3)
    assert [r.feature for r in batch[0]] == [r.feature for r in reasons]
    assert reasons_text(reasons).count("; ") == len(reasons) - 1


@pytest.mark.parametrize(
    ("feature", "value", "text"),
    [
        (
            "amount_ratio_to_mean_by_payer_30d",
            8.31,
            "amount is 8.3\u00d7 this payer's 30-day average",
        ),
        ("txn_count_by_payer_1h", 12.0, "12 transactions by this payer in the last hour"),
        ("first_time_payer_payee", 1.0, "first payment from this payer to this payee"),
        ("fraud_count_by_payee_30d", 3.0, "payee has 3 reported frauds in the last 30 days"),
        ("seconds_since_last_by_payer", None, "first transaction seen from this payer"),
        ("seconds_since_last_by_payer", 7200.0, "2 hours since this payer's previous transaction"),
        (
            "amount_sum_by_payer_24h",
            5400.0,
            "total amount 5,400.00 by this payer in the last 24 hours",
        ),
        ("balance_delta", -12.5, "balance delta is -12.5"),
        (
            "amount_ratio_mean_by_payer_last50",
            8.31,
            "amount is 8.3\u00d7 the average of this payer's last 50 payments",
        ),
        ("first_time_by_payer_payee", 1.0, "first payment from this payer to this payee"),
        (
            "distinct_payee_by_payer_24h",
            7.0,
            "7 different payees for this payer in the last 24 hours",
        ),
        (
            "fraud_rate_by_payee_30d",
            0.12,
            "12% of this payee's labelled payments in the last 30 days were fraud",
        ),
        (
            "fraud_count_by_payee_7d_event_time",
            2.0,
            "payee has 2 reported frauds in the last 7 days",
        ),
        (
            "ratio_amount_to_amount_max_by_payer_7d",
            4.2,
            "amount is 4.2\u00d7 this payer's 7-day largest amount",
        ),
        ("is_night", 1.0, "made at night"),
        ("extra_balance", 3.0, "balance is 3"),
        ("channel", "upi", "channel is upi"),
        ("device_os", None, "device os is missing"),
    ],
)
def test_sentences(feature: str, value: float | str | None, text: str) -> None:
    assert describe(feature, value) == text
