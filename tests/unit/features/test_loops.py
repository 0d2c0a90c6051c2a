"""The compiled offline loops against their one-line definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from frisk.features import loops

_SIZES = st.lists(st.integers(1, 6), min_size=1, max_size=6)  # entity run lengths


@settings(max_examples=60, deadline=None)
@given(_SIZES, st.integers(0, 2**31), st.integers(1, 4))
def test_loops_match_brute_force(sizes: list[int], seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    m = sum(sizes)
    entity = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
    ts = np.concatenate([np.sort(rng.integers(0, 20, size=s)) for s in sizes]).astype(np.int64)
    values = rng.integers(0, 5, size=m).astype(np.int64)
    first = np.r_[True, entity[1:] != entity[:-1]]
    res, buckets = 3, 2
    starts = loops.window_starts(ts, entity, np.array([res]), np.array([buckets]))[0]
    tops = loops.sliding_max(values, starts)
    leave = loops.leave_positions(ts, entity, res, buckets)
    twice = loops.previous_median2(values, first, n)
    for p in range(m):
        mine = [q for q in range(m) if entity[q] == entity[p]]
        inside = [q for q in mine if q < p and ts[q] // res > ts[p] // res - buckets]
        assert starts[p] == (inside[0] if inside else p)
        assert tops[p] == (max(values[q] for q in inside) if inside else -1)
        later = [q for q in mine if q > p and ts[q] // res >= ts[p] // res + buckets]
        assert leave[p] == (later[0] if later else mine[-1] + 1)
        window = [values[q] for q in mine if q < p][-n:]
        expected = -1 if not window else int(2 * np.median(window))
        assert twice[p] == expected
