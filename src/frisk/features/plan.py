"""A catalogue compiled for execution: features grouped by entity key, window and output slot.

Both executors read the same plan, so one state update (online) or one sort (offline) serves every
feature of a key, and every aggregate of a window.
"""

from __future__ import annotations

from dataclasses import dataclass

from frisk.features.catalogue import Catalogue
from frisk.features.spec import ENTITY_FIELDS, KEYS, LABEL_CLOCKS, FeatureSpec, Window

__all__ = [
    "DistinctPlan",
    "KeyPlan",
    "LabelGroup",
    "LabelPlan",
    "LabelWindow",
    "Plan",
    "WindowPlan",
    "compile_plan",
    "label_groups",
]


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """The aggregates of one window of one key: ``slots`` maps agg -> output position."""

    window: Window
    slots: dict[str, int]


@dataclass(frozen=True, slots=True)
class DistinctPlan:
    of: str  # event field whose distinct values are counted
    window: Window
    slot: int


@dataclass(frozen=True, slots=True)
class RelativePlan:
    n: int
    slots: dict[str, int]


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """Everything computed from one entity key's history."""

    key: str
    fields: tuple[str, ...]
    # Windows grouped by resolution: one log of buckets per resolution, windows shortest first.
    logs: tuple[tuple[int, tuple[WindowPlan, ...]], ...]
    distinct: tuple[DistinctPlan, ...]
    relative: tuple[RelativePlan, ...]
    recency: int | None
    age: int | None
    first_time: int | None


@dataclass(frozen=True, slots=True)
class LabelWindow:
    """One label window and the output slots of its fraud count, fraud rate and label count."""

    window: Window
    count: int | None
    rate: int | None
    labelled: int | None

    @property
    def slots(self) -> tuple[int, ...]:
        return tuple(s for s in (self.count, self.rate, self.labelled) if s is not None)


@dataclass(frozen=True, slots=True)
class LabelPlan:
    key: str
    fields: tuple[str, ...]  # the event fields the key is made of
    # "arrival": windows over label arrival times; "event": over the labelled transactions' times
    clock: str
    windows: tuple[LabelWindow, ...]  # shortest first

    @property
    def horizon(self) -> int:
        return max(w.window.length for w in self.windows)


@dataclass(frozen=True, slots=True)
class Plan:
    names: tuple[str, ...]
    keys: tuple[KeyPlan, ...]
    labels: tuple[LabelPlan, ...]
    calendar: dict[str, int]
    attributes: dict[str, int]
    extras: tuple[tuple[str, int, bool], ...]  # (column, slot, categorical)
    retention: int
    label_horizon: int
    # (slot, numerator slot, denominator slot), computed once every other feature is known
    ratios: tuple[tuple[int, int, int], ...] = ()

    @property
    def width(self) -> int:
        return len(self.names)


def compile_plan(catalogue: Catalogue) -> Plan:
    """Group a catalogue's features for the executors."""
    by_key: dict[str, list[tuple[int, FeatureSpec]]] = {}
    by_label: dict[tuple[str, str], list[tuple[int, FeatureSpec]]] = {}
    calendar: dict[str, int] = {}
    attributes: dict[str, int] = {}
    extras: list[tuple[str, int, bool]] = []
    position = {name: slot for slot, name in enumerate(catalogue.names)}
    ratios: list[tuple[int, int, int]] = []
    for slot, spec in enumerate(catalogue.specs):
        if spec.kind == "label":
            by_label.setdefault((spec.key, spec.clock or "arrival"), []).append((slot, spec))
        elif spec.kind == "ratio":
            ratios.append((slot, position[spec.of], position[spec.to]))
        elif spec.kind == "calendar":
            calendar[spec.agg] = slot
        elif spec.kind == "attribute":
            attributes[spec.agg] = slot
        elif spec.kind == "extra":
            extras.append((spec.of, slot, spec.categorical))
        else:
            by_key.setdefault(spec.key, []).append((slot, spec))
    keys = tuple(_key_plan(key, items) for key, items in sorted(by_key.items(), key=_key_order))
    labels = tuple(
        _label_plan(key, clock, items)
        for (key, clock), items in sorted(by_label.items(), key=_label_order)
    )
    return Plan(
        names=tuple(catalogue.names),
        keys=keys,
        labels=labels,
        calendar=calendar,
        attributes=attributes,
        extras=tuple(extras),
        retention=catalogue.retention,
        label_horizon=catalogue.label_horizon,
        ratios=tuple(ratios),
    )


def _key_order(item: tuple[str, object]) -> int:
    return list(KEYS).index(item[0])


def _label_order(item: tuple[tuple[str, str], object]) -> tuple[int, int]:
    (key, clock), _ = item
    return list(KEYS).index(key), LABEL_CLOCKS.index(clock)


def _key_plan(key: str, items: list[tuple[int, FeatureSpec]]) -> KeyPlan:
    windows: dict[Window, dict[str, int]] = {}
    relative: dict[int, dict[str, int]] = {}
    distinct: list[DistinctPlan] = []
    single: dict[str, int] = {}
    for slot, spec in items:
        if spec.kind == "window" and spec.window is not None:
            windows.setdefault(spec.window, {})[spec.agg] = slot
        elif spec.kind == "distinct" and spec.window is not None:
            distinct.append(DistinctPlan(ENTITY_FIELDS[spec.of], spec.window, slot))
        elif spec.kind == "relative":
            relative.setdefault(spec.n, {})[spec.agg] = slot
        else:
            single[spec.kind] = slot
    logs: dict[int, list[WindowPlan]] = {}
    for window in sorted(windows):
        logs.setdefault(window.res, []).append(WindowPlan(window, windows[window]))
    return KeyPlan(
        key=key,
        fields=KEYS[key],
        logs=tuple((res, tuple(plans)) for res, plans in sorted(logs.items())),
        distinct=tuple(distinct),
        relative=tuple(RelativePlan(n, slots) for n, slots in sorted(relative.items())),
        recency=single.get("recency"),
        age=single.get("age"),
        first_time=single.get("first_time"),
    )


def _label_plan(key: str, clock: str, items: list[tuple[int, FeatureSpec]]) -> LabelPlan:
    windows: dict[Window, dict[str, int]] = {}
    for slot, spec in items:
        if spec.window is not None:
            windows.setdefault(spec.window, {})[spec.agg] = slot
    return LabelPlan(
        key=key,
        fields=KEYS[key],
        clock=clock,
        windows=tuple(
            LabelWindow(window, slots.get("count"), slots.get("rate"), slots.get("labelled"))
            for window, slots in sorted(windows.items())
        ),
    )


# (res, buckets per window, (count slot, rate slot, labelled slot) per window; -1: not wanted)
LabelGroup = tuple[int, tuple[int, ...], tuple[tuple[int, int, int], ...]]


def label_groups(lp: LabelPlan) -> list[LabelGroup]:
    """A label key's windows grouped by resolution (one log of buckets each), shortest first."""
    groups: dict[int, list[tuple[int, tuple[int, int, int]]]] = {}
    for lw in lp.windows:
        slots = (_slot(lw.count), _slot(lw.rate), _slot(lw.labelled))
        groups.setdefault(lw.window.res, []).append((lw.window.buckets, slots))
    return [
        (res, tuple(k for k, _ in items), tuple(slots for _, slots in items))
        for res, items in sorted(groups.items())
    ]


def _slot(slot: int | None) -> int:
    return -1 if slot is None else slot
