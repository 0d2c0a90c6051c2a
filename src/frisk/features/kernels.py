"""Vectorised building blocks of the offline executor.

The central trick: sort the rows of one entity key by (entity, row number). In that order an
entity's rows are contiguous and ``entity * n + row`` is increasing, so "the first row of this
entity at or after row r" is one ``searchsorted``. Every time condition is first turned into a row
number of the time-sorted table (``searchsorted(ts, instant)``), which needs no per-entity search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from frisk.features.numeric import square_limbs, squares_from_limbs

__all__ = [
    "KeyIndex",
    "Prefix",
    "combine_codes",
    "cover_counts",
    "field_codes",
    "key_codes",
    "stable_argsort",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


def field_codes(table: pl.DataFrame, field: str) -> I64:
    """An integer per row, equal for equal values of ``field``; -1 where it is null."""
    # Categorical codes: equal strings get equal codes, far cheaper than ranking strings.
    physical = table.get_column(field).cast(pl.String).cast(pl.Categorical).to_physical()
    return physical.cast(pl.Int64).fill_null(-1).to_numpy()


def combine_codes(parts: list[I64]) -> I64:
    """Codes of several fields -> one code per combination; -1 where any part is -1."""
    codes = parts[0] + 1  # 0 for null
    for part in parts[1:]:
        shifted = part + 1
        codes = np.where((codes > 0) & (shifted > 0), codes * (int(shifted.max()) + 1) + shifted, 0)
    return codes - 1


def key_codes(table: pl.DataFrame, fields: tuple[str, ...]) -> I64:
    """An integer per row, equal for equal values of ``fields``; -1 where any field is null."""
    return combine_codes([field_codes(table, field) for field in fields])


@dataclass(frozen=True, slots=True)
class KeyIndex:
    """Rows of one entity key sorted by (entity, row); null keys are left out.

    ``order[p]`` is the row at position ``p``; ``entity[p]`` a dense entity number; ``fresh[p]``
    marks where an entity is new or was idle for at least the retention (its history forgotten);
    ``session_start[p]`` the position where that stretch began.
    """

    n: int
    order: I64
    entity: I64
    keys: I64
    ts: I64
    fresh: B
    session_start: I64

    @classmethod
    def build(cls, codes: I64, ts: I64, retention: int) -> KeyIndex:
        rows = np.flatnonzero(codes >= 0)
        order = rows[stable_argsort(codes[rows])].astype(np.int64)
        sorted_codes = codes[order]
        m = order.size
        new_entity = np.ones(m, dtype=np.bool_)
        new_entity[1:] = sorted_codes[1:] != sorted_codes[:-1]
        entity = np.cumsum(new_entity, dtype=np.int64) - 1
        sts = ts[order]
        fresh = new_entity.copy()
        fresh[1:] |= (sts[1:] - sts[:-1]) >= retention
        positions = np.arange(m, dtype=np.int64)
        session_start = np.maximum.accumulate(np.where(fresh, positions, 0))
        keys = entity * ts.size + order
        return cls(ts.size, order, entity, keys, sts, fresh, session_start)

    def position(self, rows: I64) -> I64:
        """Per position: the first position of the same entity whose row is >= ``rows``."""
        return np.searchsorted(self.keys, self.entity * self.n + rows, side="left").astype(np.int64)

    def position_of(self, entity: I64, rows: I64) -> I64:
        return np.searchsorted(self.keys, entity * self.n + rows, side="left").astype(np.int64)

    def scatter(self, values: F64, fill: float = np.nan) -> F64:
        """Values by position -> a column by row (rows without a key get ``fill``)."""
        out = np.full(self.n, fill, dtype=np.float64)
        out[self.order] = values
        return out


def stable_argsort(values: I64) -> I64:
    """``np.argsort(values, kind="stable")`` for non-negative ints, by 16-bit radix passes.

    NumPy sorts 16-bit keys by radix (linear time); chaining passes from the low digit up keeps
    the sort stable, and is several times faster than a comparison sort of 64-bit keys.
    """
    top = int(values.max(initial=0))
    perm: I64 | None = None
    shift = 0
    while perm is None or top >> shift:
        digit = ((values >> shift) & 0xFFFF).astype(np.uint16)
        if perm is None:
            perm = np.argsort(digit, kind="stable").astype(np.int64)
        else:
            perm = perm[np.argsort(digit[perm], kind="stable")]
        shift += 16
    return perm


class Prefix:
    """Prefix sums of values (and lazily of their squares) for any number of window sums.

    Sums are exact: int64 wraps on overflow, but differences of wrapped sums do not.
    """

    def __init__(self, values: I64) -> None:
        self.values = values
        self.sums = _prefix(values)
        self._squares: tuple[I64, I64, I64] | None = None

    def window(self, start: I64, stop: I64) -> I64:
        return self.sums[stop] - self.sums[start]

    def squares(self, start: I64, stop: I64) -> tuple[I64, I64]:
        """Sums of squares of ``values[start:stop]`` as ``(hi, lo)`` (see ``numeric``)."""
        if self._squares is None:
            a, b, c = square_limbs(self.values)
            self._squares = (_prefix(a), _prefix(b), _prefix(c))
        pa, pb, pc = self._squares
        return squares_from_limbs(pa[stop] - pa[start], pb[stop] - pb[start], pc[stop] - pc[start])


def _prefix(values: I64) -> I64:
    cum = np.zeros(values.size + 1, dtype=np.int64)
    np.cumsum(values, out=cum[1:])
    return cum


def cover_counts(m: int, start: I64, stop: I64, weight: I64 | None = None) -> I64:
    """Per position, the (weighted) number of intervals ``[start, stop)`` that cover it."""
    keep = stop > start
    first, last = start[keep], stop[keep]
    w = None if weight is None else weight[keep]
    diff = np.bincount(first, weights=w, minlength=m + 1)[: m + 1]
    diff -= np.bincount(last, weights=w, minlength=m + 1)[: m + 1]
    return np.cumsum(diff[:m]).round().astype(np.int64)
