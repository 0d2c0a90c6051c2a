from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frisk.errors import ArtifactError
from frisk.models.calibration import Calibrator


def _data(n: int, frauds_rate: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    margin = rng.normal(-3.0, 1.5, n)
    label = (rng.random(n) < frauds_rate / 0.05 / (1 + np.exp(-margin))).astype(float)
    return margin, label


@pytest.mark.parametrize(
    ("n", "rate", "method"), [(20_000, 0.05, "isotonic"), (400, 0.05, "beta"), (200, 0.0, "prior")]
)
def test_method_falls_back_with_few_frauds(n: int, rate: float, method: str) -> None:
    margin, label = _data(n, rate)
    calibrator = Calibrator().fit(margin, label, pos_weight=4.0)
    assert calibrator.method_ == method
    grid = np.linspace(-30, 30, 2001)
    p = calibrator.transform(grid)
    assert np.all(np.diff(p) >= 0)
    assert p.min() >= 0.0
    assert p.max() <= 1.0


def test_centred_isotonic_breaks_ties_between_block_centres() -> None:
    margin, label = _data(20_000, 0.05)
    calibrator = Calibrator().fit(margin, label)
    p = calibrator.transform(margin)
    # A step function would give a few dozen distinct values; interpolation keeps the ranking.
    assert np.unique(p).size > 0.5 * margin.size


def test_a_pure_top_block_is_not_certainty() -> None:
    margin = np.concatenate((np.linspace(-5, 0, 5000), np.linspace(5, 6, 60)))
    label = np.concatenate((np.zeros(5000), np.ones(60)))
    calibrator = Calibrator(min_isotonic_frauds=50).fit(margin, label)
    assert calibrator.method_ == "isotonic"
    assert 0.95 < calibrator.one(6.0) < 1.0


def test_few_frauds_get_a_smooth_monotone_curve_close_to_the_truth() -> None:
    """60 frauds: beta calibration, no steps, and near the true probability."""
    rng = np.random.default_rng(3)
    margin = rng.normal(-4.0, 1.5, 3_000)
    truth = 1.0 / (1.0 + np.exp(-(margin - 1.0)))
    label = (rng.random(margin.size) < truth).astype(float)
    calibrator = Calibrator().fit(margin, label, pos_weight=3.0)
    assert 5 <= calibrator.frauds_ < 300
    assert calibrator.method_ == "beta"
    grid = np.linspace(-6.0, 2.0, 200)
    p = calibrator.transform(grid)
    assert np.all(np.diff(p) > 0)
    # Smooth: no jump between neighbouring grid points larger than a tenth of the range.
    assert np.max(np.diff(p)) < 0.1 * (p[-1] - p[0])
    true = 1.0 / (1.0 + np.exp(-(grid - 1.0)))
    assert np.max(np.abs(p - true)) < 0.12


def test_prior_undoes_the_fraud_weight() -> None:
    calibrator = Calibrator().fit(np.zeros(10), np.zeros(10), pos_weight=9.0)
    assert calibrator.one(0.0) == pytest.approx(0.1, abs=1e-5)


def test_round_trip_and_refuses_non_monotone_arrays() -> None:
    margin, label = _data(5_000, 0.05)
    calibrator = Calibrator().fit(margin, label)
    again = Calibrator.from_dict(calibrator.to_dict())
    assert np.array_equal(again.transform(margin), calibrator.transform(margin))
    bad = calibrator.to_dict() | {"values": calibrator.values_[::-1].tolist()}
    with pytest.raises(ArtifactError, match="non-decreasing"):
        Calibrator.from_dict(bad)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-10, 10), st.booleans()), min_size=2, max_size=300),
    st.floats(1.0, 50.0),
)
def test_any_fit_is_monotone_and_within_unit_interval(
    pairs: list[tuple[float, bool]], weight: float
) -> None:
    margin = np.array([m for m, _ in pairs])
    label = np.array([float(y) for _, y in pairs])
    calibrator = Calibrator(min_isotonic_frauds=3, min_platt_frauds=1).fit(margin, label, weight)
    p = calibrator.transform(np.linspace(-12, 12, 500))
    assert np.all(np.diff(p) > 0)  # strictly: the tie-break keeps the margin's ranking
    assert 0.0 <= p.min() <= p.max() <= 1.0


@pytest.mark.parametrize(
    ("n", "rate", "method"), [(20_000, 0.05, "isotonic"), (400, 0.05, "beta"), (200, 0.0, "prior")]
)
def test_one_is_numpys_interpolation_to_the_last_bit(n: int, rate: float, method: str) -> None:
    # ``one`` interpolates in plain Python: it must give exactly the float ``np.interp`` gives
    # (the scores of recorded decisions, and so alerts, must not move).
    calibrator = Calibrator().fit(*_data(n, rate), pos_weight=4.0)
    assert calibrator.method_ == method
    rng = np.random.default_rng(1)
    knots = calibrator.knots_
    margins = np.concatenate(
        [
            rng.normal(-3.0, 4.0, 20_000),
            rng.uniform(knots[0] - 1.0, knots[-1] + 1.0, 20_000),
            knots,
            np.nextafter(knots, np.inf),
            np.nextafter(knots, -np.inf),
            [np.inf, -np.inf, 0.0, -0.0],
        ]
    )
    for margin in margins.tolist():
        p = float(np.interp(margin, knots, calibrator.values_))
        expected = (1.0 - 1e-6) * p + 1e-6 * 0.5 * (1.0 + math.tanh(0.5 * margin))
        got = calibrator.one(margin)
        assert type(got) is float
        assert got == expected or (np.isnan(got) and np.isnan(expected)), margin
    assert np.isnan(calibrator.one(float("nan")))


def test_one_follows_replaced_arrays() -> None:
    calibrator = Calibrator().fit(*_data(400, 0.05))
    before = calibrator.one(-2.0)
    calibrator.values_ = np.clip(calibrator.values_ * 0.5, 0.0, 1.0)
    assert calibrator.one(-2.0) != before
    assert calibrator.one(-2.0) == pytest.approx(
        float(np.interp(-2.0, calibrator.knots_, calibrator.values_)), abs=2e-6
    )
