"""Arithmetic both executors share, so that they agree to the last bit.

Amounts enter aggregates as integer cents (``round(amount * 100)``, half to even, clamped at
``2**42 - 1``), so window sums are exact integers on both sides and sliding windows never drift.
Every float a feature returns is then computed from the same integers by the same sequence of
IEEE-754 operations (+ - * / sqrt are correctly rounded in Python and NumPy alike); scalar and
vector forms below are written side by side to keep that true. ``log`` comes from ``math.log``
on both sides (NumPy's own ``log`` may differ by one ulp).

Sums of squares can exceed 64 bits; they are carried as ``hi * 2**42 + lo`` (``0 <= lo < 2**42``),
which is unique, so both sides turn the same exact integer into the same float.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "LIMB",
    "MAX_UNITS",
    "NAN",
    "SCALE",
    "log_amount",
    "std_units",
    "std_units_array",
    "units_array",
    "units_of",
]

SCALE: Final = 100.0
#: the one NaN every executor writes, so that vectors compare equal element by element (``==``
#: on lists takes an object as equal to itself)
NAN: Final = float("nan")
LIMB: Final = 42
MAX_UNITS: Final = (1 << LIMB) - 1
_MASK: Final = (1 << LIMB) - 1
_TWO_LIMB: Final = float(1 << LIMB)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


#: the smallest amount ``log_amount`` tells apart: one cent. A zero amount (a card check) has
#: the log of one cent, so the feature stays defined and monotone.
LOG_FLOOR: Final = 0.01


def log_amount(amount: float) -> float:
    """The natural log of the amount, floored at one cent (``math.log`` on both executors)."""
    return math.log(amount if amount > LOG_FLOOR else LOG_FLOOR)


def units_of(amount: float) -> int:
    """An amount in integer cents, as aggregates see it."""
    units = round(amount * 100.0)
    return units if units < MAX_UNITS else MAX_UNITS


def units_array(amounts: F64) -> I64:
    return np.minimum(np.rint(amounts * 100.0), float(MAX_UNITS)).astype(np.int64)


def std_units(n: int, s1: int, s2: int) -> float:
    """Sample standard deviation (in cents) of ``n >= 2`` values with sum ``s1``, squares ``s2``."""
    s2f = float(s2 >> LIMB) * _TWO_LIMB + float(s2 & _MASK)
    s1f = float(s1)
    m2 = s2f - s1f * (s1f / n)
    return math.sqrt(m2 / (n - 1)) if m2 > 0.0 else 0.0


def std_units_array(n: I64, s1: I64, hi: I64, lo: I64) -> F64:
    """``std_units`` over arrays; NaN where ``n < 2``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s2f = hi.astype(np.float64) * _TWO_LIMB + lo.astype(np.float64)
        s1f = s1.astype(np.float64)
        m2 = s2f - s1f * (s1f / n)
        std = np.sqrt(np.where(m2 > 0.0, m2, 0.0) / (n - 1))
    return np.where(n >= 2, std, np.nan)


def square_limbs(units: I64) -> tuple[I64, I64, I64]:
    """Per value: ``u*u == a * 2**42 + b * 2**21 + c`` with each part below ``2**43``."""
    high = units >> 21
    low = units & ((1 << 21) - 1)
    return high * high, 2 * high * low, low * low


def squares_from_limbs(a: I64, b: I64, c: I64) -> tuple[I64, I64]:
    """Window sums of the three limbs (each below 2**63) -> the canonical ``(hi, lo)``."""
    low = c + ((b & ((1 << 21) - 1)) << 21)
    return a + (b >> 21) + (low >> LIMB), low & _MASK
