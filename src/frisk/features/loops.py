"""Compiled loops of the offline executor (numba), each one linear pass over a key's positions.

Positions are the rows of one entity key sorted by (entity, row), as in ``kernels.KeyIndex``:
an entity's rows are contiguous and its timestamps non-decreasing, so every window boundary moves
forward only and a two-pointer pass finds all of them in O(m), where ``searchsorted`` needed
O(m log m) and a random access per step. The loops only ever produce integers (positions, counts,
cents); every float a feature returns is still computed by NumPy from those integers, in the same
operations as online, which keeps the two executors equal to the last bit.

Importing this module costs numba's import (~0.4 s) and, the first time on a machine, compiling
(cached beside the module afterwards); ``offline`` imports it only when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["distinct_counts", "leave_positions", "previous_median2", "sliding_max", "window_starts"]

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(function: _F) -> _F:
    # nogil: the offline executor runs entity keys in threads; cache: compile once per machine.
    return cast(_F, numba.njit(cache=True, nogil=True)(function))


@_jit
def window_starts(ts: I64, entity: I64, res: I64, buckets: I64) -> I64:
    """Per window ``w`` and position ``p``: the first position of ``p``'s entity inside the
    window of ``p``, i.e. whose bucket ``ts // res[w]`` is greater than ``p``'s minus
    ``buckets[w]``."""
    m = ts.size
    out = np.empty((res.size, m), np.int64)
    for w in range(res.size):
        r = res[w]
        k = buckets[w]
        q = 0
        for p in range(m):
            if p == 0 or entity[p] != entity[p - 1]:
                q = p
            lower = (ts[p] // r - k + 1) * r
            while ts[q] < lower:
                q += 1
            out[w, p] = q
    return out


@_jit
def leave_positions(ts: I64, entity: I64, res: int, buckets: int) -> I64:
    """Per position ``p``: the first later position whose bucket is ``buckets`` past ``p``'s
    (where ``p``'s event leaves the window), or the end of ``p``'s entity."""
    m = ts.size
    out = np.empty(m, np.int64)
    q = 0
    for p in range(m):
        if q <= p:
            q = p + 1
        limit = (ts[p] // res + buckets) * res
        while q < m and entity[q] == entity[p] and ts[q] < limit:
            q += 1
        out[p] = q
    return out


@_jit
def distinct_counts(m: int, occurrence: I64, following: I64, leave: I64) -> I64:
    """Per position, how many occurrences cover it: occurrence ``i`` at position ``o`` covers
    ``o + 1`` up to (not including) ``min(leave[o], following[i])``."""
    diff = np.zeros(m + 1, np.int64)
    for i in range(occurrence.size):
        o = occurrence[i]
        a = o + 1
        b = min(leave[o], following[i])
        if b > a:
            diff[a] += 1
            diff[b] -= 1
    out = np.empty(m, np.int64)
    running = 0
    for p in range(m):
        running += diff[p]
        out[p] = running
    return out


@_jit
def sliding_max(values: I64, start: I64) -> I64:
    """Max of ``values[start[p]:p]`` per position ``p`` (-1 when empty), by a monotone deque;
    ``start`` is non-decreasing within an entity and ``start[p] = p`` where one begins."""
    m = values.size
    queue = np.empty(m, np.int64)
    head = 0
    tail = 0
    out = np.empty(m, np.int64)
    for p in range(m):
        s = start[p]
        while head < tail and queue[head] < s:
            head += 1
        out[p] = values[queue[head]] if head < tail else -1
        v = values[p]
        while head < tail and values[queue[tail - 1]] <= v:
            tail -= 1
        queue[tail] = p
        tail += 1
    return out


@_jit
def previous_median2(values: I64, fresh: B, n: int) -> I64:
    """Twice the median of the (up to) ``n`` previous values since the last ``fresh`` position
    (an integer, so the halving happens in NumPy); -1 where there are none."""
    m = values.size
    window = np.empty(n, np.int64)  # the current window, sorted
    k = 0
    out = np.empty(m, np.int64)
    for p in range(m):
        if fresh[p]:
            k = 0
        if k == 0:
            out[p] = -1
        else:
            half = k // 2
            out[p] = 2 * window[half] if k % 2 else window[half - 1] + window[half]
        if k == n:  # drop the oldest value of the window, values[p - n]
            i = np.searchsorted(window[:k], values[p - n])
            for j in range(i, k - 1):
                window[j] = window[j + 1]
            k -= 1
        v = values[p]
        j = k
        while j > 0 and window[j - 1] > v:
            window[j] = window[j - 1]
            j -= 1
        window[j] = v
        k += 1
    return out
