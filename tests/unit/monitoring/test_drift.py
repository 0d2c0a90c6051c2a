"""PSI against hand-computed values, and the binning it reads from a training reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from frisk.monitoring.drift import (
    FLOOR,
    LiveWindow,
    ageing_features,
    drift_report,
    psi,
    shares,
)


def test_identical_distributions_have_zero_psi() -> None:
    assert psi([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]) == 0.0


def test_psi_by_hand() -> None:
    # (0.5-0.25) ln(0.5/0.25) + 0 + (0.25-0.5) ln(0.25/0.5) = 0.5 ln 2
    assert psi([0.25, 0.25, 0.5], [0.5, 0.25, 0.25]) == pytest.approx(0.34657359, abs=1e-8)


def test_psi_is_symmetric_in_this_swap_and_positive() -> None:
    # (0.3-0.2) ln(1.5) + (0.2-0.3) ln(2/3) + (0.5-0.5) ln 1 = 0.2 ln 1.5
    assert psi([0.2, 0.3, 0.5], [0.3, 0.2, 0.5]) == pytest.approx(0.08109302, abs=1e-8)
    assert psi([0.3, 0.2, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.08109302, abs=1e-8)


def test_an_empty_bin_counts_as_the_floor() -> None:
    # (1 - 0.5) ln(1/0.5) + (1e-4 - 0.5) ln(1e-4/0.5) = 0.34657359 + 0.4999 * 8.51719319 = 4.6043185
    assert FLOOR == 1e-4
    assert psi([0.5, 0.5], [1.0, 0.0]) == pytest.approx(4.6043185, abs=1e-7)


def test_mismatched_bins_are_refused() -> None:
    with pytest.raises(ValueError, match="2 expected shares for 3"):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])


def test_numeric_shares_use_the_training_edges_and_a_missing_bin() -> None:
    entry = {"kind": "numeric", "edges": [1.0, 2.0], "shares": [0.2, 0.3, 0.5], "missing": 0.2}
    expected, actual = shares(entry, np.array([0.5, 1.0, 1.5, 2.5, math.nan]))
    # Training shares are over defined values: times (1 - missing), then the missing share.
    assert expected.tolist() == pytest.approx([0.16, 0.24, 0.4, 0.2])
    # A value on an edge falls in the bin above it (searchsorted side="right").
    assert actual.tolist() == pytest.approx([0.2, 0.4, 0.2, 0.2])


def test_categorical_shares_cover_codes_of_either_period() -> None:
    entry = {"kind": "categorical", "shares": {"1": 0.5, "2": 0.5}, "missing": 0.0}
    expected, actual = shares(entry, np.array([1.0, 1.0, 1.0, 0.0]))
    # Bins: code 0 (only live), 1, 2 (only training), missing.
    assert expected.tolist() == pytest.approx([0.0, 0.5, 0.5, 0.0])
    assert actual.tolist() == pytest.approx([0.25, 0.75, 0.0, 0.0])
    # 3 floored bins: (0.25-1e-4) ln(2500) + 0.25 ln 1.5 + (1e-4-0.5) ln(2e-4)
    # = 1.9552 + 0.1014 + 4.2577, the missing bin 0
    assert psi(expected, actual) == pytest.approx(6.3143403, abs=1e-7)


def _window(scores: list[float], feature: list[float]) -> LiveWindow:
    return LiveWindow("m-1", None, None, np.array(scores), {"amount": np.array(feature)})


REFERENCE = {
    "rows": 1000,
    "score": {"edges": [0.5], "shares": [0.5, 0.5], "missing": 0.0},
    "features": {
        "amount": {"kind": "numeric", "edges": [10.0], "shares": [0.5, 0.5], "missing": 0.0},
        "never_seen": {"kind": "numeric", "edges": [], "shares": [], "missing": 1.0},
    },
}


def test_report_alerts_at_the_level_and_sorts_features_by_psi() -> None:
    window = _window([0.1, 0.9, 0.2, 0.8], [20.0, 30.0, 40.0, 5.0])
    report = drift_report(REFERENCE, window, alert_level=0.2, min_decisions=4)
    assert report.score.psi == 0.0
    assert not report.score.alert
    # amount: live [0.25, 0.75] vs [0.5, 0.5]: 0.25 ln 2 + 0.25 ln 1.5 = 0.25 ln 3
    first = report.features[0]
    assert first.name == "amount"
    assert first.psi == pytest.approx(0.274653, abs=1e-6)
    assert first.alert
    # A feature with no defined training values has no bins to compare: no PSI, no alert.
    assert report.features[1].name == "never_seen"
    assert report.features[1].psi is None
    body = report.to_dict()
    assert body["window"]["decisions"] == 4
    assert body["reference"]["rows"] == 1000


def test_too_few_decisions_give_no_psi() -> None:
    report = drift_report(REFERENCE, _window([0.9], [50.0]), alert_level=0.2, min_decisions=2)
    assert report.score.psi is None
    assert not report.score.alert
    assert all(f.psi is None for f in report.features)


def test_a_feature_that_grows_with_time_is_measured_but_never_alerts() -> None:
    window = _window([0.1, 0.9, 0.2, 0.8], [20.0, 30.0, 40.0, 5.0])
    report = drift_report(
        REFERENCE, window, alert_level=0.2, min_decisions=4, ageing=frozenset({"amount"})
    )
    amount = report.features[0]
    assert (amount.name, amount.psi, amount.alert, amount.ages) == ("amount", 0.274653, False, True)
    assert report.to_dict()["features"][0] == {
        "name": "amount",
        "psi": 0.274653,
        "alert": False,
        "ages": True,
    }


def test_ageing_features_are_the_catalogues_age_kind() -> None:
    from frisk.features import resolve_catalogue

    catalogue = resolve_catalogue("default")
    ages = ageing_features(catalogue.to_dict())
    assert ages == {name for name in catalogue.names if name.startswith("seconds_since_first_")}
    assert ages
    assert ageing_features({}) == frozenset()
