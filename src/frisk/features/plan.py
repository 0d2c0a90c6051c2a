"""A catalogue compiled for execution: features grouped by entity key, window and output slot.

Both executors read the same plan, so one state update (online) or one sort (offline) serves every
feature of a key, and every aggregate of a window.
"""

from __future__ import annotations

from dataclasses import dataclass

from frisk.features.catalogue import Catalogue
from frisk.features.spec import ENTITY_FIELDS, KEYS, FeatureSpec, Window

__all__ = [
    "DistinctPlan",
    "KeyPlan",
    "LabelGroup",
    "LabelPlan",
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
class LabelPlan:
    key: str
    field: str
    # (window, slot of the fraud count or None, slot of the fraud rate or None), shortest first
    windows: tuple[tuple[Window, int | None, int | None], ...]

    @property
    def horizon(self) -> int:
        return max(window.length for window, _, _ in self.windows)


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

    @property
    def width(self) -> int:
        return len(self.names)


def compile_plan(catalogue: Catalogue) -> Plan:
    """Group a catalogue's features for the executors."""
    by_key: dict[str, list[tuple[int, FeatureSpec]]] = {}
    by_label: dict[str, list[tuple[int, FeatureSpec]]] = {}
    calendar: dict[str, int] = {}
    attributes: dict[str, int] = {}
    extras: list[tuple[str, int, bool]] = []
    for slot, spec in enumerate(catalogue.specs):
        if spec.kind == "label":
            by_label.setdefault(spec.key, []).append((slot, spec))
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
        _label_plan(key, items) for key, items in sorted(by_label.items(), key=_key_order)
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
    )


def _key_order(item: tuple[str, object]) -> int:
    return list(KEYS).index(item[0])


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


def _label_plan(key: str, items: list[tuple[int, FeatureSpec]]) -> LabelPlan:
    windows: dict[Window, dict[str, int]] = {}
    for slot, spec in items:
        if spec.window is not None:
            windows.setdefault(spec.window, {})[spec.agg] = slot
    return LabelPlan(
        key=key,
        field=ENTITY_FIELDS[key],
        windows=tuple(
            (window, slots.get("count"), slots.get("rate"))
            for window, slots in sorted(windows.items())
        ),
    )


# (res, buckets per window, (count slot, rate slot) per window; -1: not wanted)
LabelGroup = tuple[int, tuple[int, ...], tuple[tuple[int, int], ...]]


def label_groups(lp: LabelPlan) -> list[LabelGroup]:
    """A label key's windows grouped by resolution (one log of buckets each), shortest first."""
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for window, count_slot, rate_slot in lp.windows:
        groups.setdefault(window.res, []).append(
            (
                window.buckets,
                -1 if count_slot is None else count_slot,
                -1 if rate_slot is None else rate_slot,
            )
        )
    return [
        (res, tuple(k for k, _, _ in items), tuple((c, r) for _, c, r in items))
        for res, items in sorted(groups.items())
    ]
