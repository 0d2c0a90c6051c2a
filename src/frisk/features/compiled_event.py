"""Straight-line Python for one whole event: ``compile_event`` writes an executor's ``step``.

``frisk.features.compiled`` unrolls the features of one entity key; this module unrolls what is
left of an event around them: reading the amount, the entity ids and the extra attributes once,
building the keys of the records the event touches, starting the event at the store in one call
(which answers with its time and its records),
the label features, the calendar and attribute features, and handing every record back to the
store in one ``commit``. Interpreting the plan there (zips over runners, a call per key to build
its id, a dict of calendar values, string tests per attribute) cost about as much as the
features themselves. The source is kept (``OnlineFeatures.step_source``) and registered with
``linecache`` so tracebacks show it. Semantics are exactly those described in
``frisk.features.online``.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from frisk.errors import InvalidEventError
from frisk.features.compiled import KeyRunner
from frisk.features.numeric import MAX_UNITS, NAN, log_amount
from frisk.features.plan import Plan, label_groups
from frisk.features.spec import DAY, HOUR
from frisk.features.state import StateStore

__all__ = ["EventLayout", "StepFunction", "compile_event"]

# step(event, t_event): the event's feature vector (then, for ``update``, learn the event)
StepFunction = Callable[[Any, int], list[Any]]


@dataclass(frozen=True, slots=True)
class EventLayout:
    """What the step of a plan is made of: its key runners (in the store's space order, label
    spaces after them) and the vector of an event whose entities are all new."""

    plan: Plan
    runners: tuple[KeyRunner, ...]
    template: list[Any]


def compile_event(
    layout: EventLayout,
    store: StateStore,
    apply_due: Callable[[int], None],
    *,
    learn: bool = True,
) -> tuple[StepFunction, str]:
    """The compiled ``step`` of ``layout`` over ``store`` and its source: ``update``'s, or with
    ``learn`` False ``peek``'s, which writes nothing at all (not even a window's cursor or a due
    label). ``apply_due(t)`` applies the labels due before ``t`` (``update`` only)."""
    plan = layout.plan
    namespace: dict[str, Any] = {
        "NAN": NAN,
        "log_amount": log_amount,
        "InvalidEventError": InvalidEventError,
        "store": store,
        "apply_due": apply_due,
        "template": layout.template,
    }
    fields: dict[str, str] = {}  # event field -> local name of its value as a string (or None)

    def field(name: str) -> str:
        if name not in fields:
            fields[name] = f"s{len(fields)}"
        return fields[name]

    keys: list[str] = []  # the local holding each space's key
    records: list[str] = []  # the local holding each space's record
    build: list[str] = []  # statements building the keys
    body: list[str] = []
    for r, runner in enumerate(layout.runners):
        namespace |= {f"create{r}": runner.create, f"run{r}": runner.run if learn else runner.peek}
        names = [field(f) for f in runner.fields]
        if len(names) == 1:
            key = names[0]
        else:
            key = f"k{r}"
            joined = ' + "\\x1f" + '.join(names)
            build.append(f"    {key} = None if {' is None or '.join(names)} is None else {joined}")
        keys.append(key)
        entity = f"r{r}"
        records.append(entity)
        body += [
            f"    if {key} is None:",
            f"        {_nan(runner.slots)}",
            f"    elif {entity} is not None and {entity}.last > t - {runner.retention}:",
            f"        run{r}({entity}, event, t, u, out)",
        ]
        if learn:  # a new (or expired) entity: its features are the template's
            body += ["    else:", f"        {entity} = create{r}(event, t, u)"]
    for j, lp in enumerate(plan.labels):
        parts = [field(f) for f in lp.fields]
        if len(parts) == 1:
            name = parts[0]
        else:  # a pair key: one string, as the runners build theirs
            name = f"lk{j}"
            joined = ' + "\\x1f" + '.join(parts)
            build.append(f"    {name} = None if {' is None or '.join(parts)} is None else {joined}")
        keys.append(name)
        record = f"l{j}"
        records.append(record)
        slots = [slot for lw in lp.windows for slot in lw.slots]
        body += [
            f"    if {name} is None:",
            f"        {_nan(slots)}",
            f"    elif {record} is not None and {record}[0] > t - {lp.horizon}:",
        ]
        for g, (res, buckets, window_slots) in enumerate(label_groups(lp)):
            body += [
                f"        label_log = {record}[1][{g}]",
                "        entries = label_log.entries",
                "        windows = label_log.windows",
                "        size = len(entries)",
            ]
            # Log.expire, unrolled: drop from each window the buckets it has passed.
            for w, (k, (count_slot, rate_slot, labelled_slot)) in enumerate(
                zip(buckets, window_slots, strict=True)
            ):
                o = 4 * w
                body += [
                    f"        limit = t // {res} - {k}",
                    f"        i = windows[{o}]",
                    f"        labelled, frauds = windows[{o + 1}], windows[{o + 2}]",
                    "        if i < size and entries[i] <= limit:",
                    "            while i < size and entries[i] <= limit:",
                    "                labelled -= entries[i + 1]",
                    "                frauds -= entries[i + 2]",
                    "                i += 4",
                ]
                if learn:
                    body += [
                        f"            windows[{o}] = i",
                        f"            windows[{o + 1}] = labelled",
                        f"            windows[{o + 2}] = frauds",
                    ]
                if count_slot >= 0:
                    body.append(f"        out[{count_slot}] = float(frauds)")
                if labelled_slot >= 0:
                    body.append(f"        out[{labelled_slot}] = float(labelled)")
                if rate_slot >= 0:
                    body.append(
                        f"        out[{rate_slot}] = frauds / labelled if labelled else NAN"
                    )
    body += _event_features(plan)
    for slot, num, den in plan.ratios:  # once every other feature is known
        body += [
            f"    a, b = out[{num}], out[{den}]",
            f"    out[{slot}] = NAN if b == 0.0 or b != b or a != a else a / b",
        ]
    if learn:
        # Every record goes back, changed in place or new: the store holds the only copy.
        body.append(f"    store.commit(txn, t, keys, ({', '.join(records)},))")
    body.append("    return out")

    head = [
        "def step(event, t_event):",
        "    clock = store.clock",
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
    numeric = [(c, slot) for c, slot, categorical in plan.extras if not categorical]
    for n, (column, _) in enumerate(numeric):
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
        head += ["    if store.next_label_at < t:", "        apply_due(t)"]
    for name, local in fields.items():
        head += [f"    {local} = event.get({name!r})", f"    if {local} is not None:"]
        head.append(f"        {local} = str({local})")
    head += build
    if keys:
        head.append(f"    keys = ({', '.join(keys)},)")
        if learn:  # the store says when the event is processed (a shared store's clock may
            # have passed it) and hands out the records as they stand just before it
            head += [
                "    txn = str(event.get('transaction_id'))",
                f"    t, ({', '.join(records)},) = store.begin(txn, t_event, keys, event)",
            ]
        else:  # peek writes nothing: it reads the state as it is
            head.append(f"    {', '.join(records)}, = store.read(keys)")
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


def _event_features(plan: Plan) -> list[str]:
    """The event's own attributes, calendar and extras (its timestamp is ``t_event``)."""
    lines = []
    calendar = plan.calendar
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
    for name, slot in plan.attributes.items():
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
    numeric = [slot for _, slot, categorical in plan.extras if not categorical]
    for n, slot in enumerate(numeric):
        lines.append(f"    out[{slot}] = x{n}")
    for column, slot, categorical in plan.extras:
        if not categorical:
            continue
        lines += [
            f"    value = event.get({column!r})",
            f"    out[{slot}] = None if value is None else str(value)",
        ]
    return lines
