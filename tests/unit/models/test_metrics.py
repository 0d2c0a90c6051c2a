"""Metrics against hand-computed examples, scikit-learn, and their degenerate cases."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from frisk.errors import InputError
from frisk.models.metrics import (
    alert_count,
    alert_shares,
    average_precision,
    budget_metrics,
    calibration,
    daily_metrics,
    payer_precision_at_k,
    pr_curve,
    roc_auc,
    roc_curve,
    scenario_recall,
    score_metrics,
)

Y = [0, 0, 1, 1]
S = [0.1, 0.4, 0.35, 0.8]


def test_roc_auc_by_hand() -> None:
    assert roc_auc(Y, S) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)


def test_average_precision_by_hand() -> None:
    # Ranked: 0.8 fraud (P=1, R=.5), 0.4 legit, 0.35 fraud (P=2/3, R=1).
    assert average_precision(Y, S) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


@pytest.mark.parametrize("decimals", [None, 1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranking_matches_sklearn(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(2000) < 0.05).astype(int)
    s = rng.random(2000) + y * 0.3
    if decimals is not None:  # rounding makes many ties
        s = np.round(s, decimals)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_curves_end_at_full_recall() -> None:
    recall, precision = pr_curve(Y, S)
    assert recall[-1] == 1.0
    assert precision[0] == 1.0
    fpr, tpr = roc_curve(Y, S)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)


def test_degenerate_ranking_is_nan_not_an_error() -> None:
    assert math.isnan(roc_auc([0, 0, 0], [0.1, 0.2, 0.3]))
    assert math.isnan(roc_auc([1, 1], [0.1, 0.2]))
    assert math.isnan(roc_auc([], []))
    assert math.isnan(average_precision([0, 0], [0.1, 0.2]))
    assert average_precision([1, 1], [0.1, 0.2]) == 1.0
    assert pr_curve([], [])[0].size == 0


def test_budget_by_hand_with_a_tie_at_the_cut() -> None:
    y = [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    s = [0.9, 0.8, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05]
    amounts = [100.0, 50.0, 10.0, 1, 1, 1, 1, 1, 1, 50.0]
    at = budget_metrics(y, s, 0.2, amounts)
    assert at.alerts == 2
    assert at.threshold == 0.8
    # 0.9 alerted fully; the two 0.8 events share the second alert, half each.
    assert at.caught == pytest.approx(1.5)
    assert at.recall == pytest.approx(0.5)
    assert at.precision == pytest.approx(0.75)
    assert at.amount_recall == pytest.approx((100 + 25) / 200)


def test_budget_does_not_depend_on_row_order() -> None:
    y = np.array([1, 0, 0, 1, 0, 0])
    s = np.array([0.5, 0.5, 0.5, 0.5, 0.2, 0.9])
    first = budget_metrics(y, s, 0.5)
    order = np.array([5, 4, 3, 2, 1, 0])
    assert budget_metrics(y[order], s[order], 0.5) == first


def test_budget_smaller_than_one_event_alerts_nothing() -> None:
    at = budget_metrics([1, 0, 0], [0.9, 0.1, 0.2], 0.005)
    assert at.alerts == 0
    assert at.recall == 0.0
    assert math.isnan(at.precision)
    assert math.isnan(at.threshold)


def test_budget_without_fraud_or_all_fraud() -> None:
    none = budget_metrics([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], 0.5)
    assert math.isnan(none.recall)
    assert none.precision == 0.0
    assert math.isnan(none.amount_recall)
    every = budget_metrics([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], 0.5)
    assert every.recall == 0.5
    assert every.precision == 1.0


@pytest.mark.parametrize("budget", [0.0, -0.1, 1.5, math.nan])
def test_bad_budget_is_refused(budget: float) -> None:
    with pytest.raises(InputError, match="alert budget"):
        alert_count(100, budget)


def test_alert_count_floors_without_float_surprises() -> None:
    assert alert_count(100, 0.07) == 7
    assert alert_count(1000, 0.005) == 5
    assert alert_count(199, 0.005) == 0
    assert alert_count(10, 1.0) == 10


def test_bad_scores_and_labels_are_refused() -> None:
    with pytest.raises(InputError, match="not finite"):
        roc_auc([0, 1], [0.1, math.nan])
    with pytest.raises(InputError, match="2 scores for 3 events"):
        roc_auc([0, 1, 0], [0.1, 0.2])
    with pytest.raises(InputError, match="labels must be 0"):
        roc_auc([0, 2], [0.1, 0.2])


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), min_size=1, max_size=60),
    alerts=st.integers(min_value=0, max_value=70),
)
def test_alert_shares_spend_exactly_the_budget(scores: list[float], alerts: int) -> None:
    shares = alert_shares(scores, alerts)
    assert shares.sum() == pytest.approx(min(alerts, len(scores)))
    assert ((shares >= 0) & (shares <= 1)).all()
    s = np.array(scores)
    # Never alert a lower score more than a higher one.
    order = np.argsort(-s, kind="stable")
    assert (np.diff(shares[order]) <= 1e-12).all()


def test_scenario_recall() -> None:
    labels = [1, 1, 1, 0, 1]
    shares = [1.0, 0.0, 0.5, 1.0, 0.0]
    scenarios = pl.Series(["ato", "ato", "mule", None, None])
    result = {r.scenario: r for r in scenario_recall(labels, shares, scenarios)}
    assert result["ato"].frauds == 2
    assert result["ato"].recall == pytest.approx(0.5)
    assert result["mule"].recall == pytest.approx(0.5)
    assert result["unknown"].recall == 0.0


def _days(*offsets: int) -> pl.Series:
    base = datetime(2024, 3, 1, 12, tzinfo=UTC)
    return pl.Series([base + timedelta(days=d) for d in offsets]).dt.date()


def test_payer_precision_by_hand_leaves_found_payers_out() -> None:
    # Day 0: A fraud 0.9 tops B and C; A is found.
    # Day 1: A would top again but is found; B (legit, 0.5) beats D (fraud, 0.4).
    # Day 2: D alone, fraudulent.
    days = _days(0, 0, 0, 0, 1, 1, 1, 2)
    payers = pl.Series(["A", "A", "B", "C", "A", "B", "D", "D"])
    labels = [1, 0, 0, 0, 1, 0, 1, 1]
    scores = [0.9, 0.2, 0.8, 0.1, 0.95, 0.5, 0.4, 0.9]
    result = payer_precision_at_k(days, payers, labels, scores, k=1)
    assert [d.precision for d in result.days] == [1.0, 0.0, 1.0]
    assert [d.candidates for d in result.days] == [3, 2, 1]
    assert [d.fraud_payers for d in result.days] == [1, 1, 1]
    assert result.mean == pytest.approx(2 / 3)
    assert result.ceiling == 1.0
    assert result.days[0].day == "2024-03-01"


def test_payer_precision_with_fewer_payers_than_k() -> None:
    result = payer_precision_at_k(_days(0, 0), pl.Series(["A", "B"]), [1, 0], [0.3, 0.2], k=100)
    assert result.days[0].alerted == 2
    assert result.mean == pytest.approx(0.5)
    assert result.ceiling == pytest.approx(0.5)


def test_payer_precision_empty() -> None:
    days = pl.Series([], dtype=pl.Date)
    result = payer_precision_at_k(days, pl.Series([], dtype=pl.String), [], [], k=10)
    assert result.days == ()
    assert math.isnan(result.mean)


def test_calibration_matches_sklearn_and_hand() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.99, 500)
    y = (rng.random(500) < p).astype(int)
    cal = calibration(y, p, n_bins=5, strategy="quantile")
    assert cal.brier == pytest.approx(brier_score_loss(y, p))
    assert cal.log_loss == pytest.approx(log_loss(y, p))
    assert sum(b.count for b in cal.bins) == 500
    assert len(cal.bins) == 5
    # By hand, two equal-width bins: |0.15 - 0.5| * 2 + |0.8 - 1| * 2 over 4 events.
    hand = calibration([0, 1, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2, strategy="uniform")
    assert hand.ece == pytest.approx(0.275)
    assert [b.count for b in hand.bins] == [2, 2]


def test_log_bins_resolve_the_high_scores() -> None:
    p = np.array([0.0, 1e-4, 1e-3, 1e-2, 1e-1, 0.5, 0.9])
    cal = calibration(np.zeros(7), p, n_bins=5)  # edges 0, 1e-4, 1e-3, 1e-2, 1e-1, 1
    assert [b.count for b in cal.bins] == [1, 1, 1, 1, 3]
    assert cal.bins[0].upper == pytest.approx(1e-4)
    assert len(calibration([0, 1], [0.0, 0.0]).bins) == 1
    assert len(calibration([0, 1], [1.0, 1.0]).bins) == 1


def test_calibration_degenerate() -> None:
    same = calibration([0, 1, 0], [0.3, 0.3, 0.3])
    assert len(same.bins) == 1
    assert same.bins[0].observed_rate == pytest.approx(1 / 3)
    extreme = calibration([0, 1], [1.0, 0.0])  # confidently wrong: large, finite
    assert math.isfinite(extreme.log_loss)
    assert math.isnan(calibration([], []).brier)
    with pytest.raises(InputError, match="probabilities"):
        calibration([0, 1], [0.5, 3.0])


def test_daily_metrics_apply_the_budget_per_day() -> None:
    days = _days(1, 0, 0, 1)
    result = daily_metrics(days, [1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], 0.5)
    assert [d.day for d in result] == ["2024-03-01", "2024-03-02"]
    assert [d.recall for d in result] == [1.0, 1.0]
    assert [d.events for d in result] == [2, 2]


def _rows(n: int, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.1).astype(np.int8)
    base = datetime(2024, 3, 1, tzinfo=UTC)
    rows = pl.DataFrame(
        {
            "timestamp": [base + timedelta(hours=int(h)) for h in np.sort(rng.integers(0, 72, n))],
            "amount": rng.uniform(1, 500, n),
            "payer_id": [f"p{i}" for i in rng.integers(0, 50, n)],
            "label": label,
            "scenario": [("ato" if i % 2 else "mule") if f else None for i, f in enumerate(label)],
        }
    )
    scores = np.clip(rng.random(n) * 0.5 + label * 0.4, 0, 1)
    return rows, scores


def test_score_metrics_gives_everything_as_json() -> None:
    rows, scores = _rows(600)
    result = score_metrics(rows, scores, 0.05, k=5)
    assert result.events == 600
    assert result.at_budget.alerts == 30
    assert result.roc_auc == pytest.approx(roc_auc_score(rows["label"], scores))
    assert {s.scenario for s in result.scenarios} == {"ato", "mule"}
    assert len(result.daily) == 3
    assert len(result.payers.days) == 3
    assert result.calibration is not None
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert '"payers"' in text


def test_score_metrics_without_fraud_is_still_json() -> None:
    rows, scores = _rows(50)
    rows = rows.with_columns(pl.lit(0, dtype=pl.Int8).alias("label")).drop("scenario")
    result = score_metrics(rows, scores, 0.005, probabilities=False)
    data = result.to_dict()
    assert data["roc_auc"] is None
    assert data["calibration"] is None
    assert data["scenarios"] == []
    json.dumps(data, allow_nan=False)


def test_score_metrics_refuses_unknown_labels_and_missing_columns() -> None:
    rows, scores = _rows(20)
    with pytest.raises(InputError, match="unknown"):
        score_metrics(rows.with_columns(pl.lit(None, dtype=pl.Int8).alias("label")), scores, 0.1)
    with pytest.raises(InputError, match="payer_id"):
        score_metrics(rows.drop("payer_id"), scores, 0.1)
