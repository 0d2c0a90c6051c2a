from __future__ import annotations

import numpy as np
import pytest

from frisk.errors import ArtifactError, ModelError
from frisk.models.thresholds import Action, RiskTier, Thresholds, fit_thresholds


def test_budgets_are_hit_on_validation_scores() -> None:
    scores = np.random.default_rng(1).beta(0.5, 20, 100_000)
    fit = fit_thresholds(scores, alert_budget=0.005, block_budget=0.001, medium_budget=0.05)
    assert fit.review_share == pytest.approx(0.005, abs=1e-4)
    assert fit.block_share == pytest.approx(0.001, abs=1e-4)
    assert fit.medium_share == pytest.approx(0.05, abs=1e-4)


def test_precision_target_or_fallback_to_budget() -> None:
    rng = np.random.default_rng(2)
    scores = rng.random(50_000)
    labels = (rng.random(50_000) < scores**8).astype(float)
    fit = fit_thresholds(scores, labels, block_precision=0.9)
    assert fit.block_rule == "precision"
    assert fit.block_precision_seen >= 0.9
    assert fit.thresholds.block >= fit.thresholds.review
    unreachable = fit_thresholds(scores, np.zeros(50_000), block_precision=0.9)
    assert unreachable.block_rule.startswith("budget (precision")


def test_tiers_actions_and_risk_scores_agree() -> None:
    t = Thresholds(medium=0.01, review=0.2, block=0.6)
    p = np.array([0.0, 0.005, 0.01, 0.1, 0.2, 0.5, 0.6, 1.0])
    assert t.tiers(p).tolist() == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
    assert t.actions(p).tolist() == ["allow"] * 4 + ["review"] * 2 + ["block"] * 2
    scores = t.risk_scores(p).tolist()
    assert scores == sorted(scores)
    assert scores[0] == 0
    assert scores[-1] == 100
    assert [t.risk_score(x) for x in (0.01, 0.2, 0.6)] == [40, 70, 90]
    assert t.risk_score(0.1999999) == 69
    assert t.tier(0.6) is RiskTier.CRITICAL
    assert t.action(0.3) is Action.REVIEW


def test_equal_cut_points_still_map_monotonically() -> None:
    t = Thresholds(0.3, 0.3, 0.3)
    scores = t.risk_scores(np.linspace(0, 1, 101))
    assert np.all(np.diff(scores) >= 0)
    assert t.risk_score(0.3) == 90


def test_override_is_validated() -> None:
    t = Thresholds(0.01, 0.2, 0.6)
    assert t.replace(review=0.3).review == 0.3
    with pytest.raises(ModelError, match="medium <= review <= block"):
        t.replace(review=0.9)
    with pytest.raises(ArtifactError, match="thresholds are malformed"):
        Thresholds.from_dict({"medium": 0.1})


@pytest.mark.parametrize(
    "cuts", [(0.01, 0.2, 0.6), (0.3, 0.3, 0.3), (0.0, 0.0, 1.0), (0.001, 0.5, 0.5), (1.0, 1.0, 1.0)]
)
def test_one_events_score_tier_and_action_are_the_arrays(cuts: tuple[float, float, float]) -> None:
    # ``risk_score``, ``tier`` and ``action`` of one probability (plain Python, the scoring
    # path's) give exactly what the array versions give: the cut points, their neighbouring
    # floats and the knots' interior included.
    t = Thresholds(*cuts)
    edges = [0.0, 1.0, *cuts]
    near = [float(x) for c in edges for x in (np.nextafter(c, -1.0), c, np.nextafter(c, 2.0))]
    rng = np.random.default_rng(3)
    p = [x for x in near if 0.0 <= x <= 1.0] + rng.random(20_000).tolist()
    p += (rng.random(5_000) * 1e-3).tolist()
    assert [t.risk_score(x) for x in p] == t.risk_scores(np.array(p)).tolist()
    assert [str(t.tier(x)) for x in p] == t.tiers(np.array(p)).tolist()
    assert [str(t.action(x)) for x in p] == t.actions(np.array(p)).tolist()
    assert [t.risk_score(np.float64(x)) for x in p[:50]] == [t.risk_score(x) for x in p[:50]]
