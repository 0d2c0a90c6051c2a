"""Straight-line Python for one entity key: ``compile_run`` writes and compiles ``run``.

``update`` runs once per event and key, and interpreting the plan there (looping over windows,
unpacking slot tuples, testing which aggregates are wanted) cost more than the arithmetic. So, as
``dataclasses`` and ``namedtuple`` do, each ``KeyRunner`` writes the source of its own ``run``
once, with its windows unrolled and its slots, bucket sizes and offsets as constants, and compiles
it. The generated function follows the state layout described in ``frisk.features.entity``; its
source is kept (``KeyRunner.source``) and registered with ``linecache`` so tracebacks show it.
"""

from __future__ import annotations

import linecache
from bisect import bisect_left, insort
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from frisk.features.numeric import NAN, SCALE, std_units

if TYPE_CHECKING:
    from frisk.features.entity import Entity, KeyRunner

__all__ = ["RunFunction", "compile_run"]

# run(entity, event, t, u, out, commit): features of a known entity into out; learn if commit
RunFunction = Callable[["Entity", Any, int, int, list[Any], bool], None]
_MICROS = 1e6
# Compact a list once its dead prefix is this long and at least half of it.
COMPACT = 256


def compile_run(runner: KeyRunner) -> tuple[RunFunction, str]:
    """The compiled ``run`` of ``runner`` and its source."""
    lines = ["def run(entity, event, t, u, out, commit):"]
    plan = runner.plan
    if plan.recency is not None:
        lines.append(f"    out[{plan.recency}] = float(t - entity.last) / {_MICROS!r}")
    if plan.age is not None:
        lines.append(f"    out[{plan.age}] = float(t - entity.first) / {_MICROS!r}")
    if plan.first_time is not None:
        lines.append(f"    out[{plan.first_time}] = 0.0")
    lines += ["    nums = entity.nums", "    uu = u * u"]
    if runner.n_max:
        lines.append("    maxes = entity.maxes")
    for g, (res, windows) in enumerate(runner.logs):
        lines += _log(g, res, windows, runner.max_slots)
    for d, (field, base, counted) in enumerate(runner.distinct):
        lines += _distinct(d, field, counted, base)
    for e, relative in enumerate(runner.relative):
        lines += _relative(e, *relative)
    lines += ["    if commit:", "        entity.last = t"]
    source = "\n".join(lines) + "\n"
    filename = f"<frisk.features.compiled run of {plan.key}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {
        "NAN": NAN,
        "std_units": std_units,
        "bisect_left": bisect_left,
        "insort": insort,
    }
    exec(compile(source, filename, "exec"), namespace)
    function: RunFunction = namespace["run"]
    return function, source


def _log(
    g: int, res: int, windows: list[tuple[int, int, int, int, int, int, int]], max_slots: list[int]
) -> list[str]:
    scale = repr(SCALE)
    lines = [
        f"    log = entity.logs[{g}]",
        "    bucket = t" if res == 1 else f"    bucket = t // {res}",
        "    size = len(log)",
        "    count = log[size - 3]",
        "    total = log[size - 2]",
        "    squares = log[size - 1]",
    ]
    for k, c, s_count, s_sum, s_mean, s_std, s_max in windows:
        lines += [
            f"    limit = bucket - {k}",
            f"    i = nums[{c}]",
            "    if i < size and log[i] <= limit:",
            "        i += 4",
            "        while i < size and log[i] <= limit:",
            "            i += 4",
            f"        nums[{c}] = i",
        ]
        if s_count >= 0 or s_mean >= 0 or s_std >= 0:
            lines.append("    n = count - log[i - 3]")
        if s_count >= 0:
            lines.append(f"    out[{s_count}] = float(n)")
        if s_sum >= 0 or s_mean >= 0 or s_std >= 0:
            lines.append("    s1 = total - log[i - 2]")
        if s_sum >= 0:
            lines.append(f"    out[{s_sum}] = float(s1) / {scale}")
        if s_mean >= 0:
            lines.append(f"    out[{s_mean}] = float(s1) / n / {scale} if n else NAN")
        if s_std >= 0:
            lines.append(
                f"    out[{s_std}] = "
                f"std_units(n, s1, squares - log[i - 1]) / {scale} if n >= 2 else NAN"
            )
        if s_max >= 0:
            lines += [
                f"    dq = maxes[{s_max}]",
                "    while dq and dq[0] <= limit:",
                "        del dq[:2]",
                f"    out[{max_slots[s_max]}] = float(dq[1]) / {scale} if dq else NAN",
            ]
    lines += [
        "    if commit:",
        "        if log[size - 4] == bucket:",
        "            log[size - 3] = count + 1",
        "            log[size - 2] = total + u",
        "            log[size - 1] = squares + uu",
        "        else:",
        "            log += (bucket, count + 1, total + u, squares + uu)",
    ]
    for _, _, _, _, _, _, s_max in windows:
        if s_max >= 0:
            lines += [
                f"        dq = maxes[{s_max}]",
                "        while dq and dq[-1] <= u:",
                "            del dq[-2:]",
                "        dq += (bucket, u)",
            ]
    # The longest window (last) has the smallest cursor; drop what it has passed, keeping the
    # entry before it as the new sentinel.
    lines += [
        f"        cut = nums[{windows[-1][1]}] - 4",
        f"        if cut >= {COMPACT} and 2 * cut >= size:",
        "            del log[:cut]",
    ]
    lines += [f"            nums[{c}] -= cut" for _, c, *_ in windows]
    return lines


def _distinct(d: int, field: str, counted: list[tuple[int, int, int, int]], base: int) -> list[str]:
    """Distinct values of ``field``: occurrences ``[time, value, ...]`` in ``order``, the value
    of an occurrence replaced by None once the value occurs again; ``last`` maps each value to
    the position (plus ``nums[base]``, the occurrences dropped so far) of its latest occurrence.
    A window's count drops by one for each live occurrence its cursor passes: no lookups."""
    lines = [f"    last, order = entity.distinct[{d}]", "    size = len(order)"]
    for w, (res, k, at, slot) in enumerate(counted):
        # ts // res <= t // res - k  <=>  ts <= (t // res - k + 1) * res - 1
        bound = f"t - {k}" if res == 1 else f"(t // {res} - {k - 1}) * {res} - 1"
        lines.append(f"    limit{w} = {bound}")
        lines += [
            f"    i = nums[{at}]",
            f"    if i < size and order[i] <= limit{w}:",
            f"        count = nums[{at + 1}]",
            f"        while i < size and order[i] <= limit{w}:",
            "            if order[i + 1] is not None:",
            "                count -= 1",
            "            i += 2",
            f"        nums[{at}] = i",
            f"        nums[{at + 1}] = count",
            f"    out[{slot}] = float(nums[{at + 1}])",
        ]
    # The longest window (last) forgets the values it has passed.
    lines += [
        "    if commit:",
        f"        cut = nums[{counted[-1][2]}]",
        f"        if cut >= {COMPACT} and 2 * cut >= size:",
        "            for j in range(1, cut, 2):",
        "                value = order[j]",
        "                if value is not None:",
        "                    del last[value]",
        "            del order[:cut]",
        f"            nums[{base}] += cut",
    ]
    lines += [f"            nums[{at}] -= cut" for _, _, at, _ in counted]
    lines += [
        f"        value = event.get({field!r})",
        "        if value is not None:",
        "            value = str(value)",
        "            p = last.get(value)",
        "            if p is None:",
    ]
    lines += [f"                nums[{at + 1}] += 1" for _, _, at, _ in counted]
    lines += [
        f"                last[value] = nums[{base}] + len(order)",
        "                order += (t, value)",
        "            else:",
        f"                p -= nums[{base}]",
        "                previous = order[p]",
        "                if previous != t:",
    ]
    for w, (_, _, at, _) in enumerate(counted):
        lines += [
            f"                    if previous <= limit{w}:",
            f"                        nums[{at + 1}] += 1",
        ]
    lines += [
        "                    order[p + 1] = None",
        f"                    last[value] = nums[{base}] + len(order)",
        "                    order += (t, value)",
    ]
    return lines


def _relative(e: int, n: int, at: int, s_mean: int, s_median: int, s_z: int) -> list[str]:
    lines = [
        f"    ring, ordered = entity.recent[{e}]",
        "    k = len(ring)",
        f"    total = nums[{at}]",
        "    mean = float(total) / k",
        "    uf = float(u)",
    ]
    if s_mean >= 0:
        lines.append(f"    out[{s_mean}] = uf / mean if total > 0 else NAN")
    if s_median >= 0:
        lines += [
            "    half = k // 2",
            "    median = (",
            "        float(ordered[half]) if k % 2 else (ordered[half - 1] + ordered[half]) / 2",
            "    )",
            f"    out[{s_median}] = uf / median if median > 0 else NAN",
        ]
    if s_z >= 0:
        lines += [
            f"    std = std_units(k, total, nums[{at + 1}]) if k >= 2 else 0.0",
            f"    out[{s_z}] = (uf - mean) / std if std > 0 else NAN",
        ]
    return [
        *lines,
        "    if commit:",
        f"        if k == {n}:",
        "            old = ring[0]",
        "            del ordered[bisect_left(ordered, old)]",
        "            total -= old",
        f"            nums[{at + 1}] -= old * old",
        "        ring.append(u)",
        "        insort(ordered, u)",
        f"        nums[{at}] = total + u",
        f"        nums[{at + 1}] += uu",
    ]
