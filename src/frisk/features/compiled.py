"""Straight-line Python for one entity key: ``compile_run`` writes and compiles ``run``.

``update`` runs once per event and key, and interpreting the plan there (looping over windows,
unpacking slot tuples, testing which aggregates are wanted) cost more than the arithmetic. So, as
``dataclasses`` and ``namedtuple`` do, each ``KeyRunner`` (a ``KeyLayout`` with its code) writes
the source of its own ``run``
once, with its windows unrolled and its slots, bucket sizes and offsets as constants, and compiles
it. The generated function follows the state layout described in ``frisk.features.entity``; its
source is kept (``KeyRunner.source``) and registered with ``linecache`` so tracebacks show it.
"""

from __future__ import annotations

import linecache
import math
from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Any

from frisk.features.entity import COMPACT, Entity, KeyLayout
from frisk.features.numeric import LIMB, NAN, SCALE
from frisk.features.plan import KeyPlan

__all__ = ["KeyRunner", "RunFunction", "compile_run"]

# run(entity, event, t, u, out): features of a known entity into out, then learn the event
RunFunction = Callable[[Entity, Any, int, int, list[Any]], None]
_MICROS = 1e6


class KeyRunner(KeyLayout):
    """The features of one entity key, precompiled from its ``KeyPlan``."""

    def __init__(self, plan: KeyPlan, retention: int) -> None:
        super().__init__(plan, retention)
        #: ``run(entity, event, t, u, out)``: the features of the event at ``t`` of a known
        #: entity into ``out``, then learn it (it changes ``entity`` in place: the caller hands
        #: the entity back to its store)
        self.run: RunFunction
        self.run, self.source = compile_run(self)
        #: ``peek(entity, event, t, u, out)``: the same features, writing nothing
        self.peek: RunFunction
        self.peek, _ = compile_run(self, learn=False)


def compile_run(runner: KeyLayout, *, learn: bool = True) -> tuple[RunFunction, str]:
    """The compiled ``run`` of ``runner`` and its source.

    With ``learn``, every part reads first (features into ``out``), moving its window cursors as
    it goes, then every part learns the event; each part's locals carry its number so the two
    halves can be apart. Without ``learn`` (``peek``) nothing is written: the cursors move in
    locals only, so a peek at a later time never hides from a later update what its window holds.
    """
    lines = ["def run(entity, event, t, u, out):"]
    plan = runner.plan
    if plan.recency is not None:
        lines.append(f"    out[{plan.recency}] = (t - entity.last) / {_MICROS!r}")
    if plan.age is not None:
        lines.append(f"    out[{plan.age}] = (t - entity.first) / {_MICROS!r}")
    if plan.first_time is not None:
        lines.append(f"    out[{plan.first_time}] = 0.0")
    lines.append("    nums = entity.nums")
    if runner.n_max:
        lines.append("    maxes = entity.maxes")
    writes = ["    uu = u * u", "    entity.last = t"]
    for g, (res, windows) in enumerate(runner.logs):
        read, write = _log(g, res, windows, runner.max_slots, learn)
        lines += read
        writes += write
    for d, (field, base, counted) in enumerate(runner.distinct):
        read, write = _distinct(d, field, counted, base, learn)
        lines += read
        writes += write
    for e, relative in enumerate(runner.relative):
        read, write = _relative(e, *relative)
        lines += read
        writes += write
    source = "\n".join(lines + (writes if learn else [])) + "\n"
    verb = "run" if learn else "peek"
    filename = f"<frisk.features.compiled {verb} of {plan.key}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {
        "NAN": NAN,
        "sqrt": math.sqrt,
        "bisect_left": bisect_left,
        "insort": insort,
    }
    exec(compile(source, filename, "exec"), namespace)
    function: RunFunction = namespace["run"]
    return function, source


def std_source(n: str, s1: str, s2: str) -> str:
    """An expression equal to ``numeric.std_units(n, s1, s2)`` for ``n >= 2`` (inlined: a call
    costs more than the arithmetic), given the names of its arguments."""
    s2f = f"(float({s2} >> {LIMB}) * {float(1 << LIMB)!r} + float({s2} & {(1 << LIMB) - 1}))"
    m2 = f"({s2f} - float({s1}) * (float({s1}) / {n}))"
    return f"(sqrt(m2 / ({n} - 1)) if (m2 := {m2}) > 0.0 else 0.0)"


_Lines = tuple[list[str], list[str]]


def _log(
    g: int,
    res: int,
    windows: list[tuple[int, int, int, int, int, int, int]],
    max_slots: list[int],
    learn: bool,
) -> _Lines:
    scale = repr(SCALE)
    log, bucket, size = f"log{g}", f"bucket{g}", f"size{g}"
    count, total, squares = f"count{g}", f"total{g}", f"squares{g}"
    read = [
        f"    {log} = entity.logs[{g}]",
        f"    {bucket} = t" if res == 1 else f"    {bucket} = t // {res}",
        f"    {size} = len({log})",
        f"    {count} = {log}[{size} - 3]",
        f"    {total} = {log}[{size} - 2]",
        f"    {squares} = {log}[{size} - 1]",
    ]
    for k, c, s_count, s_sum, s_mean, s_std, s_max in windows:
        read += [f"    limit = {bucket} - {k}", f"    i = nums[{c}]"]
        if learn:
            read += [
                f"    if i < {size} and {log}[i] <= limit:",
                "        i += 4",
                f"        while i < {size} and {log}[i] <= limit:",
                "            i += 4",
                f"        nums[{c}] = i",
            ]
        else:
            read += [f"    while i < {size} and {log}[i] <= limit:", "        i += 4"]
        if s_count >= 0 or s_mean >= 0 or s_std >= 0:
            read.append(f"    n = {count} - {log}[i - 3]")
        if s_count >= 0:
            read.append(f"    out[{s_count}] = float(n)")
        if s_sum >= 0 or s_mean >= 0 or s_std >= 0:
            read.append(f"    s1 = {total} - {log}[i - 2]")
        if s_sum >= 0:
            read.append(f"    out[{s_sum}] = s1 / {scale}")  # int / float: float(s1) / 100.0
        if s_mean >= 0:
            read.append(f"    out[{s_mean}] = float(s1) / n / {scale} if n else NAN")
        if s_std >= 0:
            read += [
                f"    s2 = {squares} - {log}[i - 1]",
                f"    out[{s_std}] = {std_source('n', 's1', 's2')} / {scale} if n >= 2 else NAN",
            ]
        if s_max >= 0 and learn:
            read += [
                f"    dq = maxes[{s_max}]",
                "    while dq and dq[0] <= limit:",
                "        del dq[:2]",
                f"    out[{max_slots[s_max]}] = dq[1] / {scale} if dq else NAN",
            ]
        elif s_max >= 0:
            read += [
                f"    dq = maxes[{s_max}]",
                "    j = 0",
                "    while j < len(dq) and dq[j] <= limit:",
                "        j += 2",
                f"    out[{max_slots[s_max]}] = dq[j + 1] / {scale} if j < len(dq) else NAN",
            ]
    write = [
        f"    if {log}[{size} - 4] == {bucket}:",
        f"        {log}[{size} - 3] = {count} + 1",
        f"        {log}[{size} - 2] = {total} + u",
        f"        {log}[{size} - 1] = {squares} + uu",
        "    else:",
        f"        {log} += ({bucket}, {count} + 1, {total} + u, {squares} + uu)",
    ]
    for _, _, _, _, _, _, s_max in windows:
        if s_max >= 0:
            write += [
                f"    dq = maxes[{s_max}]",
                "    while dq and dq[-1] <= u:",
                "        del dq[-2:]",
                f"    dq += ({bucket}, u)",
            ]
    # The longest window (last) has the smallest cursor; drop what it has passed, keeping the
    # entry before it as the new sentinel.
    write += [
        f"    cut = nums[{windows[-1][1]}] - 4",
        f"    if cut >= {COMPACT} and 2 * cut >= {size}:",
        f"        del {log}[:cut]",
    ]
    write += [f"        nums[{c}] -= cut" for _, c, *_ in windows]
    return read, write


def _distinct(
    d: int, field: str, counted: list[tuple[int, int, int, int]], base: int, learn: bool
) -> _Lines:
    """Distinct values of ``field``: occurrences ``[time, value, ...]`` in ``order``, the value
    of an occurrence replaced by None once the value occurs again; ``last`` maps each value to
    the position (plus ``nums[base]``, the occurrences dropped so far) of its latest occurrence.
    A window's count drops by one for each live occurrence its cursor passes: no lookups."""
    last, order, size = f"last{d}", f"order{d}", f"occurrences{d}"
    read = [f"    {last}, {order} = entity.distinct[{d}]", f"    {size} = len({order})"]
    for w, (res, k, at, slot) in enumerate(counted):
        limit = f"limit{d}_{w}"
        # ts // res <= t // res - k  <=>  ts <= (t // res - k + 1) * res - 1
        bound = f"t - {k}" if res == 1 else f"(t // {res} - {k - 1}) * {res} - 1"
        if not learn:
            read += [
                f"    {limit} = {bound}",
                f"    i = nums[{at}]",
                f"    count = nums[{at + 1}]",
                f"    while i < {size} and {order}[i] <= {limit}:",
                f"        if {order}[i + 1] is not None:",
                "            count -= 1",
                "        i += 2",
                f"    out[{slot}] = float(count)",
            ]
            continue
        read += [
            f"    {limit} = {bound}",
            f"    i = nums[{at}]",
            f"    if i < {size} and {order}[i] <= {limit}:",
            f"        count = nums[{at + 1}]",
            f"        while i < {size} and {order}[i] <= {limit}:",
            f"            if {order}[i + 1] is not None:",
            "                count -= 1",
            "            i += 2",
            f"        nums[{at}] = i",
            f"        nums[{at + 1}] = count",
            f"    out[{slot}] = float(nums[{at + 1}])",
        ]
    # The longest window (last) forgets the values it has passed.
    write = [
        f"    cut = nums[{counted[-1][2]}]",
        f"    if cut >= {COMPACT} and 2 * cut >= {size}:",
        "        for j in range(1, cut, 2):",
        f"            value = {order}[j]",
        "            if value is not None:",
        f"                del {last}[value]",
        f"        del {order}[:cut]",
        f"        nums[{base}] += cut",
    ]
    write += [f"        nums[{at}] -= cut" for _, _, at, _ in counted]
    write += [
        f"    value = event.get({field!r})",
        "    if value is not None:",
        "        value = str(value)",
        f"        p = {last}.get(value)",
        "        if p is None:",
    ]
    write += [f"            nums[{at + 1}] += 1" for _, _, at, _ in counted]
    write += [
        f"            {last}[value] = nums[{base}] + len({order})",
        f"            {order} += (t, value)",
        "        else:",
        f"            p -= nums[{base}]",
        f"            previous = {order}[p]",
        "            if previous != t:",
    ]
    for w, (_, _, at, _) in enumerate(counted):
        write += [
            f"                if previous <= limit{d}_{w}:",
            f"                    nums[{at + 1}] += 1",
        ]
    write += [
        f"                {order}[p + 1] = None",
        f"                {last}[value] = nums[{base}] + len({order})",
        f"                {order} += (t, value)",
    ]
    return read, write


def _relative(e: int, n: int, at: int, s_mean: int, s_median: int, s_z: int) -> _Lines:
    ring, ordered, k = f"ring{e}", f"ordered{e}", f"k{e}"
    read = [
        f"    {ring}, {ordered} = entity.recent[{e}]",
        f"    {k} = len({ring})",
        f"    total = nums[{at}]",
        f"    mean = float(total) / {k}",
        "    uf = float(u)",
    ]
    if s_mean >= 0:
        read.append(f"    out[{s_mean}] = uf / mean if total > 0 else NAN")
    if s_median >= 0:
        read += [
            f"    half = {k} // 2",
            "    median = (",
            f"        float({ordered}[half]) if {k} % 2 else ({ordered}[half - 1] + "
            f"{ordered}[half]) / 2",
            "    )",
            f"    out[{s_median}] = uf / median if median > 0 else NAN",
        ]
    if s_z >= 0:
        read += [
            f"    s2 = nums[{at + 1}]",
            f"    std = {std_source(k, 'total', 's2')} if {k} >= 2 else 0.0",
            f"    out[{s_z}] = (uf - mean) / std if std > 0 else NAN",
        ]
    write = [
        f"    if {k} == {n}:",
        f"        old = {ring}[0]",
        f"        del {ordered}[bisect_left({ordered}, old)]",
        f"        nums[{at}] -= old",
        f"        nums[{at + 1}] -= old * old",
        f"    {ring}.append(u)",
        f"    insort({ordered}, u)",
        f"    nums[{at}] += u",
        f"    nums[{at + 1}] += uu",
    ]
    return read, write
