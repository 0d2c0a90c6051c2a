"""Straight-line Python for one whole event: ``compile_event`` writes an executor's ``step``.

``frisk.features.compiled`` unrolls the features of one entity key; this module unrolls what is
left of an event around them: reading the amount, the entity ids and the extra attributes once,
finding each key's state, the label features, the calendar and attribute features and the memory
of transactions for late labels. Interpreting the plan there (zips over runners, a call per key to
build its id, a dict of calendar values, string tests per attribute) cost about as much as the
features themselves. The source is kept (``OnlineFeatures.step_source``) and registered with
``linecache`` so tracebacks show it. Semantics are exactly those described in
``frisk.features.online``.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from frisk.errors import InvalidEventError
from frisk.features.numeric import MAX_UNITS, NAN, log_amount
from frisk.features.spec import DAY, HOUR

if TYPE_CHECKING:
    from frisk.features.online import OnlineFeatures

__all__ = ["StepFunction", "compile_event"]

# step(event, t_event): the event's feature vector (then, for ``update``, learn the event)
StepFunction = Callable[[Any, int], list[Any]]


def compile_event(online: OnlineFeatures, *, learn: bool = True) -> tuple[StepFunction, str]:
    """The compiled ``step`` of ``online`` and its source: ``update``'s, or with ``learn`` False
    ``peek``'s, which writes nothing at all (not even a window's cursor or a due label)."""
    from frisk.features.online import _sweep

    namespace: dict[str, Any] = {
        "NAN": NAN,
        "log_amount": log_amount,
        "InvalidEventError": InvalidEventError,
        "sweep": _sweep,
        "online": online,
        "meta": online._meta,
        "pending": online._meta["pending"],
        "txn_order": online._meta["txn_order"],
        "txns": online._txns,
        "template": online._template,
    }
    fields: dict[str, str] = {}  # event field -> local name of its value as a string (or None)

    def field(name: str) -> str:
        if name not in fields:
            fields[name] = f"s{len(fields)}"
        return fields[name]

    body: list[str] = []
    for r, (runner, space) in enumerate(online._runners):
        queue = online._sweeps[r][1]
        namespace.update(
            {f"space{r}": space, f"queue{r}": queue, f"create{r}": runner.create}
            | {f"run{r}": runner.run if learn else runner.peek}
        )
        names = [field(f) for f in runner.fields]
        key = ' + "\\x1f" + '.join(names)
        body += [
            f"    if {' is None or '.join(names)} is None:",
            f"        {_nan(runner.slots)}",
            "    else:",
            f"        key = {key}",
            f"        entity = space{r}.get(key)",
            f"        if entity is not None and entity.last > t - {runner.retention}:",
            f"            run{r}(entity, event, t, u, out)",
        ]
        if learn:  # a new (or expired) entity: its features are the template's
            body += [
                "        else:",
                f"            space{r}[key] = create{r}(event, t, u)",
                "            if entity is None:",
                f"                queue{r}.append(key)",
                f"                sweep(space{r}, queue{r}, t - {runner.retention}, False)",
            ]
    label_keys = []
    for j, ((lp, groups, space), slots) in enumerate(
        zip(online._labels, online._label_slots, strict=True)
    ):
        parts = [field(f) for f in lp.fields]
        if len(parts) == 1:
            name = parts[0]
        else:  # a pair key: one string, as the runners build theirs
            name = f"lk{j}"
            joined = ' + "\\x1f" + '.join(parts)
            body.append(f"    {name} = None if {' is None or '.join(parts)} is None else {joined}")
        label_keys.append(name)
        namespace[f"labels{j}"] = space
        body += [
            f"    if {name} is None:",
            f"        {_nan(slots)}",
            "    else:",
            f"        record = labels{j}.get({name})",
            f"        if record is not None and record[0] > t - {lp.horizon}:",
        ]
        for g, (res, buckets, window_slots) in enumerate(groups):
            body += [
                f"            label_log = record[1][{g}]",
                "            entries = label_log.entries",
                "            windows = label_log.windows",
                "            size = len(entries)",
            ]
            # Log.expire, unrolled: drop from each window the buckets it has passed.
            for w, (k, (count_slot, rate_slot, labelled_slot)) in enumerate(
                zip(buckets, window_slots, strict=True)
            ):
                o = 4 * w
                body += [
                    f"            limit = t // {res} - {k}",
                    f"            i = windows[{o}]",
                    f"            labelled, frauds = windows[{o + 1}], windows[{o + 2}]",
                    "            if i < size and entries[i] <= limit:",
                    "                while i < size and entries[i] <= limit:",
                    "                    labelled -= entries[i + 1]",
                    "                    frauds -= entries[i + 2]",
                    "                    i += 4",
                ]
                if learn:
                    body += [
                        f"                windows[{o}] = i",
                        f"                windows[{o + 1}] = labelled",
                        f"                windows[{o + 2}] = frauds",
                    ]
                if count_slot >= 0:
                    body.append(f"            out[{count_slot}] = float(frauds)")
                if labelled_slot >= 0:
                    body.append(f"            out[{labelled_slot}] = float(labelled)")
                if rate_slot >= 0:
                    body.append(
                        f"            out[{rate_slot}] = frauds / labelled if labelled else NAN"
                    )
    body += _event_features(online)
    for slot, num, den in online.plan.ratios:  # once every other feature is known
        body += [
            f"    a, b = out[{num}], out[{den}]",
            f"    out[{slot}] = NAN if b == 0.0 or b != b or a != a else a / b",
        ]
    if learn:
        body.append("    meta['clock'] = t")
        if online._labels:
            body += _remember(online, label_keys)
        body.append("    meta['updates'] += 1")
    body.append("    return out")

    head = [
        "def step(event, t_event):",
        "    clock = meta['clock']",
        "    t = t_event if clock is None or t_event > clock else clock",
        # Read and check everything before any state changes: a bad event changes nothing.
        "    amount = event.get('amount')",
        "    if not isinstance(amount, int | float) or not amount >= 0:",
        "        raise InvalidEventError('amount', amount, 'must be a number >= 0')",
        "    amount = float(amount)",
        "    u = round(amount * 100.0)",
        f"    if u > {MAX_UNITS}:",
        f"        u = {MAX_UNITS}",
    ]
    for n, (column, _) in enumerate(online._numeric_extras):
        head += [
            f"    x{n} = event.get({column!r})",
            f"    if x{n} is None:",
            f"        x{n} = NAN",
            "    else:",
            "        try:",
            f"            x{n} = float(x{n})",
            "        except (TypeError, ValueError):",
            f"            raise InvalidEventError({column!r}, x{n}, 'must be a number') from None",
        ]
    if learn:
        head += ["    if pending and pending[0][0] < t:", "        online._apply_due(t)"]
    for name, local in fields.items():
        head += [f"    {local} = event.get({name!r})", f"    if {local} is not None:"]
        head.append(f"        {local} = str({local})")
    head.append("    out = template.copy()")
    source = "\n".join(head + body) + "\n"
    filename = f"<frisk.features.compiled_event {'step' if learn else 'peek'}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    function: StepFunction = namespace["step"]
    return function, source


def _nan(slots: list[int]) -> str:
    """One statement setting ``slots`` of ``out`` to NaN."""
    return " = ".join([f"out[{slot}]" for slot in slots] + ["NAN"])


def _event_features(online: OnlineFeatures) -> list[str]:
    """The event's own attributes, calendar and extras (its timestamp is ``t_event``)."""
    lines = []
    calendar = dict(online._calendar)
    if calendar:
        lines += [
            f"    hour = (t_event // {HOUR}) % 24",
            f"    weekday = (t_event // {DAY} + 3) % 7",  # 1970-01-01 was a Thursday; Monday is 0
        ]
        values = {
            "hour_of_day": "float(hour)",
            "day_of_week": "float(weekday)",
            "is_night": "1.0 if hour < 6 else 0.0",
            "is_weekend": "1.0 if weekday >= 5 else 0.0",
        }
        lines += [f"    out[{slot}] = {values[name]}" for name, slot in calendar.items()]
    for name, slot in online._attributes:
        if name == "amount":
            lines.append(f"    out[{slot}] = amount")
        elif name == "log_amount":
            lines.append(f"    out[{slot}] = log_amount(amount)")
        elif name == "is_cross_border":
            lines += [
                "    a, b = event.get('payer_country'), event.get('payee_country')",
                f"    out[{slot}] = NAN if a is None or b is None else float(a != b)",
            ]
        else:
            lines += [
                f"    value = event.get({name!r})",
                f"    out[{slot}] = None if value is None else str(value)",
            ]
    for n, (_, slot) in enumerate(online._numeric_extras):
        lines.append(f"    out[{slot}] = x{n}")
    for column, slot in online._categorical_extras:
        lines += [
            f"    value = event.get({column!r})",
            f"    out[{slot}] = None if value is None else str(value)",
        ]
    return lines


def _remember(online: OnlineFeatures, label_keys: list[str]) -> list[str]:
    """Keep a transaction's label keys until no label may arrive for it any more, and at most
    ``online.remember`` transactions (the oldest are forgotten first)."""
    keys = ", ".join(["t", *label_keys])
    return [
        "    remember = online.remember",
        "    if remember:",
        f"        limit = t - {online.plan.label_horizon}",
        "        while txn_order:",
        "            found = txns.get(txn_order[0])",
        "            if found is not None and found[0] > limit and len(txn_order) < remember:",
        "                break",
        "            old = txn_order.popleft()",
        "            if found is not None:",
        "                del txns[old]",
        "        txn = str(event.get('transaction_id'))",
        "        if txn not in txns:",
        "            txn_order.append(txn)",
        f"        txns[txn] = ({keys},)",
    ]
