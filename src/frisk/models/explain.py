"""Explanations: the features that pushed a score up, as short sentences for analysts.

Contributions are LightGBM's own TreeSHAP (``pred_contrib``) in log-odds of the booster margin:
they add up, with the bias, to the margin, and calibration is monotone, so a positive
contribution always raised the probability. Contributions cost far more than a prediction
(~20-60x for a few hundred trees), so callers explain only what they alert on.

Sentences are chosen by the feature name, which the catalogue derives from the definition
(``txn_count_by_payer_1h``); a name no pattern knows gets a generic sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from frisk.models.scoring import FeatureValue, FraudModel

__all__ = ["Reason", "describe", "explain_many", "explain_one", "reasons_text"]

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Reason:
    feature: str
    value: FeatureValue
    contribution: float  # signed, in log-odds of the margin
    text: str


def explain_one(
    model: FraudModel, vector: Sequence[FeatureValue], top: int = 3, *, both: bool = False
) -> list[Reason]:
    """The ``top`` features that raised this event's score most (``both``: by size, any sign)."""
    contributions = model.contributions_one(vector)
    return _reasons(model.feature_names, list(vector), contributions[:-1], top, both)


def explain_many(
    model: FraudModel, features: pl.DataFrame, top: int = 3, *, both: bool = False
) -> list[list[Reason]]:
    """``explain_one`` for every row of a features frame, one batched contribution call."""
    contributions = model.contributions(model.matrix(features))
    names = model.feature_names
    values = features.select(names).rows()
    return [
        _reasons(names, list(row), contributions[i, :-1], top, both) for i, row in enumerate(values)
    ]


def reasons_text(reasons: Sequence[Reason]) -> str:
    """One line for a report or CSV cell: the sentences joined with "; "."""
    return "; ".join(r.text for r in reasons)


def describe(feature: str, value: FeatureValue) -> str:
    """A short sentence saying what ``feature`` = ``value`` means."""
    for pattern, render in _RULES:
        match = pattern.fullmatch(feature)
        if match:
            text = render(match, value)
            if text is not None:
                return text
    return _generic(feature, value)


def _reasons(
    names: Sequence[str], values: list[FeatureValue], contrib: Floats, top: int, both: bool
) -> list[Reason]:
    # Features that say the same thing (amount and log_amount) are one reason to an analyst:
    # their contributions add up under the first name of the group.
    merged: dict[str, float] = {}
    for name, c in zip(names, contrib.tolist(), strict=True):
        concept = _SAME_AS.get(name, name)
        merged[concept] = merged.get(concept, 0.0) + c
    ranked = sorted(merged.items(), key=lambda kv: -abs(kv[1]) if both else -kv[1])
    context = dict(zip(names, values, strict=True))
    reasons: list[Reason] = []
    for name, c in ranked[:top]:
        if not both and c <= 0.0:
            break
        value = context.get(name)
        text = _amount_in_context(value, context) if name == "amount" else describe(name, value)
        reasons.append(Reason(name, value, c, text))
    return reasons


# Features whose contribution is reported under another feature's name.
_SAME_AS: Final = {"log_amount": "amount"}
# The payer's own baselines an amount is compared with, best first.
_BASELINES: Final = (
    ("amount_ratio_mean_by_payer_last50", "average"),
    ("amount_ratio_median_by_payer_last50", "median"),
)


def _amount_in_context(value: FeatureValue, context: dict[str, FeatureValue]) -> str:
    """Say "amount 2,500.00 is 8.3x this payer's average" when the vector holds the baseline."""
    n = _number(value)
    if n is None:
        return describe("amount", value)
    for feature, stat in _BASELINES:
        ratio = _number(context.get(feature))
        if ratio is not None and ratio > 0:
            return f"amount {n:,.2f} is {ratio:.1f}\u00d7 this payer's {stat} payment"
        if feature in context and ratio is None:
            return f"amount {n:,.2f}, and no earlier payments of this payer to compare with"
    return f"amount is {n:,.2f}"


# -- sentences -------------------------------------------------------------------------------

_UNITS: Final = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
_ENTITY = r"(?P<entity>[a-z]+(?:_[a-z]+)*?)"
_WINDOW = r"(?P<window>\d+[smhdw])"
Render = Callable[[re.Match[str], FeatureValue], str | None]


def _window(text: str) -> str:
    """ "1h" -> "hour", "24h" -> "24 hours", "30d" -> "30 days"."""
    number, unit = int(text[:-1]), _UNITS.get(text[-1], text[-1])
    return unit if number == 1 else f"{number} {unit}s"


def _entity(text: str) -> str:
    return "-".join(text.split("_"))


def _number(value: FeatureValue) -> float | None:
    if value is None or isinstance(value, str):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"


def _duration(seconds: float) -> str:
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds / size
            return f"{n:.0f} {unit}{'s' if round(n) != 1 else ''}"
    return f"{seconds:.0f} second{'s' if round(seconds) != 1 else ''}"


def _amount(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    return None if n is None else f"amount is {n:,.2f}"


def _ratio(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    entity = _entity(m["entity"])
    if n is None:
        return f"no earlier amounts from this {entity} to compare with"
    span = f"{m['window'][:-1]}-{_UNITS.get(m['window'][-1], m['window'][-1])}"
    stat = {"mean": "average", "median": "median", "max": "largest amount"}[m["stat"]]
    return f"amount is {n:.1f}\u00d7 this {entity}'s {span} {stat}"  # the multiplication sign


def _relative(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    entity = _entity(m["entity"])
    if n is None:
        return f"no earlier amounts from this {entity} to compare with"
    last = f"last {m['n']} payments"
    if m["stat"] == "zscore":
        side = "above" if n >= 0 else "below"
        return f"amount is {abs(n):.1f} standard deviations {side} this {entity}'s {last}"
    stat = {"ratio_mean": "average", "ratio_median": "median"}[m["stat"]]
    return f"amount is {n:.1f}\u00d7 the {stat} of this {entity}'s {last}"


def _fraud_rate(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    if n is None:
        return f"no labelled payments for this {_entity(m['entity'])} yet"
    return (
        f"{n:.0%} of this {_entity(m['entity'])}'s labelled payments in the last "
        f"{_window(m['window'])} were fraud"
    )


def _age(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    entity = _entity(m["entity"])
    if n is None:
        return f"first transaction seen from this {entity}"
    return f"this {entity} was first seen {_duration(n)} ago"


def _flag(text_on: str, text_off: str) -> Render:
    def render(m: re.Match[str], v: FeatureValue) -> str | None:
        n = _number(v)
        return None if n is None else (text_on if n >= 0.5 else text_off)

    return render


def _hour(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    return None if n is None else f"made at {int(n):02d}:00 UTC"


def _extra(m: re.Match[str], v: FeatureValue) -> str | None:
    return _generic(m["name"], v)


def _txn_count(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    if n is None:
        return None
    noun = "transaction" if n == 1 else "transactions"
    return f"{_count(n)} {noun} by this {_entity(m['entity'])} in the last {_window(m['window'])}"


def _amount_stat(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    if n is None:
        return None
    what = {
        "sum": "total",
        "mean": "average",
        "max": "largest",
        "min": "smallest",
        "std": "spread (std) of the",
    }[m["stat"]]
    return (
        f"{what} amount {n:,.2f} by this {_entity(m['entity'])} in the last {_window(m['window'])}"
    )


def _distinct(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    if n is None:
        return None
    thing = _entity(m["thing"])
    return (
        f"{_count(n)} different {thing}{'s' if n != 1 else ''} for this "
        f"{_entity(m['entity'])} in the last {_window(m['window'])}"
    )


def _frauds(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    if n is None:
        return None
    noun = "fraud" if n == 1 else "frauds"
    return (
        f"{_entity(m['entity'])} has {_count(n)} reported {noun} in the last {_window(m['window'])}"
    )


def _since(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    entity = _entity(m["entity"])
    if n is None:
        return f"first transaction seen from this {entity}"
    return f"{_duration(n)} since this {entity}'s previous transaction"


def _first_time(m: re.Match[str], v: FeatureValue) -> str | None:
    n = _number(v)
    a, b = _entity(m["a"]), _entity(m["b"])
    if n is None:
        return None
    if n >= 0.5:
        return f"first payment from this {a} to this {b}"
    return f"this {a} has paid this {b} before"


_RULES: Final[list[tuple[re.Pattern[str], Render]]] = [
    (re.compile(r"amount"), _amount),
    (
        re.compile(rf"amount_ratio_to_(?P<stat>mean|median|max)_by_{_ENTITY}_{_WINDOW}"),
        _ratio,
    ),
    (re.compile(rf"(?:txn_)?count_by_{_ENTITY}_{_WINDOW}"), _txn_count),
    (re.compile(rf"amount_(?P<stat>sum|mean|max|min|std)_by_{_ENTITY}_{_WINDOW}"), _amount_stat),
    (
        re.compile(rf"amount_(?P<stat>ratio_mean|ratio_median|zscore)_by_{_ENTITY}_last(?P<n>\d+)"),
        _relative,
    ),
    (
        re.compile(rf"(?:distinct|unique)_(?P<thing>[a-z_]+?)_(?:count_)?by_{_ENTITY}_{_WINDOW}"),
        _distinct,
    ),
    (
        re.compile(rf"(?:fraud|label|chargeback)_count_by_{_ENTITY}_{_WINDOW}(?:_event_time)?"),
        _frauds,
    ),
    (re.compile(rf"fraud_rate_by_{_ENTITY}_{_WINDOW}(?:_event_time)?"), _fraud_rate),
    (
        re.compile(rf"ratio_amount_to_amount_(?P<stat>mean|median|max)_by_{_ENTITY}_{_WINDOW}"),
        _ratio,
    ),
    (re.compile(rf"seconds_since_last_by_{_ENTITY}"), _since),
    (re.compile(rf"seconds_since_first_by_{_ENTITY}"), _age),
    (re.compile(r"first_time_(?:by_)?(?P<a>payer|payee|device)_(?P<b>[a-z_]+)"), _first_time),
    (re.compile(r"is_night"), _flag("made at night", "made in the daytime")),
    (re.compile(r"is_weekend"), _flag("made on a weekend", "made on a weekday")),
    (re.compile(r"is_cross_border"), _flag("cross-border payment", "domestic payment")),
    (re.compile(r"hour_of_day"), _hour),
    (re.compile(r"extra_(?P<name>\w+)"), _extra),
]


def _generic(feature: str, value: FeatureValue) -> str:
    label = feature.replace("_", " ")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{label} is missing"
    if isinstance(value, float):
        return f"{label} is {value:,.4g}"
    return f"{label} is {value}"
