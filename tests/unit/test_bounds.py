"""``frisk.bounds``: the amount rules answer for every float, never raise (issue #20, case 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frisk.bounds import AMOUNT_MAX, check_amount, decimals_problem
from frisk.currencies import CURRENCIES


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(sorted(CURRENCIES)))
def test_every_float_gets_an_answer_not_an_exception(value: float, currency: str) -> None:
    for problem in (check_amount(value, currency), decimals_problem(value, currency)):
        assert problem is None or isinstance(problem, str)
    if check_amount(value) is not None:  # out of range: refused with a reason, not accepted
        assert check_amount(value, currency) is not None


@pytest.mark.parametrize("value", [1e308, -1e308, float("inf"), float("nan")])
def test_amounts_no_currency_can_count_are_refused_with_a_reason(value: float) -> None:
    """In minor units they overflow: the decimal check raised OverflowError (a 500)."""
    assert decimals_problem(value, "EUR") is not None
    assert check_amount(value, "EUR") is not None


@pytest.mark.parametrize(
    ("value", "currency", "refused"),
    [
        (12.34, "EUR", False),
        (12.345, "EUR", True),
        (0.1 + 0.2, "EUR", False),  # float noise is not a decimal place
        (1200.0, "JPY", False),
        (12.5, "JPY", True),
        (1.234, "BHD", False),
        (AMOUNT_MAX, "EUR", False),
    ],
)
def test_decimal_places_follow_the_currency(value: float, currency: str, refused: bool) -> None:
    assert (check_amount(value, currency) is not None) is refused
