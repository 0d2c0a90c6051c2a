"""Feature definitions: what a feature is, and the name derived from it.

A ``FeatureSpec`` is one output column. Its name is derived from its fields (``name_of``), never
typed by hand: ``amount_sum_by_payer_24h``, ``txn_count_by_device_1h``,
``seconds_since_last_by_payer``, ``distinct_payee_by_payer_24h``.

Time is integer microseconds since the Unix epoch (UTC). A window of length ``w`` has a
resolution ``res``: windows up to one hour are exact (``res`` = 1 µs), longer ones count whole
clock hours (``res`` = 1 h), which bounds the memory an entity needs online. With ``K = w / res``
buckets, the window of an event at ``t`` holds the earlier events whose bucket ``ts // res`` is
greater than ``t // res - K``: for exact windows that is ``(t - w, t]``, for hourly windows the
current clock hour and the ``K - 1`` hours before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from frisk.errors import FeatureError

__all__ = [
    "AGGREGATES",
    "ATTRIBUTES",
    "CALENDAR",
    "ENTITY_FIELDS",
    "HOUR",
    "KEYS",
    "KINDS",
    "LABEL_CLOCKS",
    "LABEL_STATS",
    "RELATIVE_STATS",
    "FeatureSpec",
    "Window",
    "format_duration",
    "name_of",
    "parse_duration",
]

SECOND: Final = 1_000_000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR
_UNITS: Final = {"s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY}

# Entity keys and the event fields they are made of.
KEYS: Final[dict[str, tuple[str, ...]]] = {
    "payer": ("payer_id",),
    "payee": ("payee_id",),
    "device": ("device_id",),
    "payer_payee": ("payer_id", "payee_id"),
    "payer_device": ("payer_id", "device_id"),
}
# Single-field entities whose distinct values can be counted.
ENTITY_FIELDS: Final[dict[str, str]] = {
    "payer": "payer_id",
    "payee": "payee_id",
    "device": "device_id",
}
# Windowed aggregates of the amount and the prefix of their names.
AGGREGATES: Final[dict[str, str]] = {
    "count": "txn_count",
    "sum": "amount_sum",
    "mean": "amount_mean",
    "max": "amount_max",
    "std": "amount_std",
}
RELATIVE_STATS: Final[dict[str, str]] = {
    "ratio_mean": "amount_ratio_mean",
    "ratio_median": "amount_ratio_median",
    "zscore": "amount_zscore",
}
LABEL_STATS: Final[dict[str, str]] = {
    "count": "fraud_count",
    "rate": "fraud_rate",
    "labelled": "labelled_count",
}
# The clock a label window runs on: when the label arrived, or when the labelled transaction
# happened (counted only from the label's arrival on).
LABEL_CLOCKS: Final = ("arrival", "event")
CALENDAR: Final = ("hour_of_day", "day_of_week", "is_night", "is_weekend")
# Event attributes; string ones are categorical.
ATTRIBUTES: Final[dict[str, bool]] = {
    "amount": False,
    "log_amount": False,
    "is_cross_border": False,
    "channel": True,
    "currency": True,
    "merchant_category": True,
    "payer_country": True,
    "payee_country": True,
}
KINDS: Final = (
    "window",
    "distinct",
    "recency",
    "age",
    "first_time",
    "relative",
    "label",
    "calendar",
    "attribute",
    "extra",
    "ratio",
)
_DURATION = re.compile(r"^([1-9][0-9]*)([smhd])$")


def parse_duration(text: str) -> int:
    """``"10m"`` -> microseconds; units s, m, h, d."""
    match = _DURATION.match(text.strip())
    if not match:
        raise FeatureError(f"duration {text!r}: expected a number and a unit s/m/h/d, e.g. '24h'")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(micros: int) -> str:
    """The shortest spelling of a duration: 86400 s -> ``"24h"`` (hours up to 48), ``"7d"``."""
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND)):
        if micros % size == 0 and not (unit == "d" and micros <= 2 * DAY):
            return f"{micros // size}{unit}"
    raise FeatureError(f"duration of {micros} µs is not a whole number of seconds")


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A time window: ``length`` µs counted in buckets of ``res`` µs (see the module docstring)."""

    length: int
    res: int

    @classmethod
    def of(cls, text: str) -> Window:
        length = parse_duration(text)
        if length <= HOUR:
            return cls(length, 1)
        if length % HOUR:
            raise FeatureError(f"window {text!r}: windows over 1h must be whole hours")
        return cls(length, HOUR)

    @property
    def buckets(self) -> int:
        return self.length // self.res

    def __str__(self) -> str:
        return format_duration(self.length)


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One feature. Which fields matter depends on ``kind``; ``name`` is derived from them.

    - window: ``agg`` of the amount over ``window`` by ``key``;
    - distinct: distinct ``of`` values by ``key`` over ``window``;
    - recency / age: seconds since the entity's previous / first event;
    - first_time: 1 if the (pair) entity has no earlier event, else 0;
    - relative: ``agg`` (ratio_mean, ratio_median, zscore) of the amount against the entity's
      last ``n`` amounts;
    - label: fraud ``agg`` (count, rate, labelled) by ``key`` over ``window``, by ``clock``:
      label arrival times (``arrival``, the default) or the labelled transactions' own times
      (``event``), a label counting only from its arrival on either way;
    - calendar / attribute: ``agg`` names the value; extra: the user column ``of``;
    - ratio: feature ``of`` divided by feature ``to`` (NaN when either is NaN or ``to`` is 0).
    """

    kind: str
    key: str = ""
    agg: str = ""
    window: Window | None = None
    of: str = ""
    n: int = 0
    categorical: bool = False
    clock: str = ""  # label windows: "" (arrival) or "event"
    to: str = ""  # ratio: the denominator feature

    @property
    def name(self) -> str:
        return name_of(self)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind}
        if self.key:
            out["key"] = self.key
        if self.agg:
            out["agg"] = self.agg
        if self.window is not None:
            out["window"] = str(self.window)
        if self.of:
            out["of"] = self.of
        if self.n:
            out["n"] = self.n
        if self.categorical:
            out["categorical"] = True
        if self.clock:
            out["clock"] = self.clock
        if self.to:
            out["to"] = self.to
        return out


def name_of(spec: FeatureSpec) -> str:
    """The column name of a feature, derived from its definition."""
    by = f"_by_{spec.key}"
    win = f"_{spec.window}" if spec.window is not None else ""
    match spec.kind:
        case "window":
            return f"{AGGREGATES[spec.agg]}{by}{win}"
        case "distinct":
            return f"distinct_{spec.of}{by}{win}"
        case "recency":
            return f"seconds_since_last{by}"
        case "age":
            return f"seconds_since_first{by}"
        case "first_time":
            return f"first_time{by}"
        case "relative":
            return f"{RELATIVE_STATS[spec.agg]}{by}_last{spec.n}"
        case "label":
            clock = "_event_time" if spec.clock == "event" else ""
            return f"{LABEL_STATS[spec.agg]}{by}{win}{clock}"
        case "ratio":
            return f"ratio_{spec.of}_to_{spec.to}"
        case "calendar" | "attribute":
            return spec.agg
        case "extra":
            return f"extra_{spec.of}"
    raise FeatureError(f"feature kind {spec.kind!r} is unknown")
