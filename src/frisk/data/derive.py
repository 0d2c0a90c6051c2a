"""Derived attributes: numbers a mapping computes from a few columns at import, vectorised.

A mapping's ``[derive]`` table names each new attribute and how to compute it::

    [derive]
    age_years = { years_between = ["dob", "timestamp"] }          # (b - a) in years of 365.25 d
    signup_age_s = { seconds_between = ["signup_time", "timestamp"] }    # (b - a) in seconds
    distance_km = { haversine = ["lat", "long", "merch_lat", "merch_long"] }
    balance_drop = { difference = ["oldbalanceOrg", "newbalanceOrig"] }   # a - b
    spend_share = { ratio = ["amount", "oldbalanceOrg"] }                 # a / b, null if b = 0
    orig_error = { linear = { amount = 1, oldbalanceOrg = -1, newbalanceOrig = 1 } }

Arguments name source columns, except that a canonical column name (``amount``, ``timestamp``)
means the canonical, already converted value. A date column is read as ISO 8601 unless the
mapping's ``[columns.formats]`` gives it a format of its own (``signup_time = "%m/%d/%y %H:%M"``).
The result is a Float64 extra attribute under its own name, null where an input is null; features
see it as ``extra_<name>``. Why these operations: age, distance from home and balance arithmetic
are the derived signals known to matter on card and account-transfer data,
and each is awkward to express as a windowed feature.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from collections.abc import Mapping as MappingType
from dataclasses import dataclass
from typing import Final

import polars as pl

from frisk.data.numbers import as_number
from frisk.data.timestamps import TimestampFormat, parse_timestamps
from frisk.errors import MappingError
from frisk.schema import KNOWN_COLUMNS

__all__ = ["OPERATIONS", "Derivation", "derive_values", "read_derive"]

# Operation -> (how many arguments, a one-line description for messages).
OPERATIONS: Final[dict[str, tuple[int | None, str]]] = {
    "difference": (2, "[a, b]: a - b"),
    "sum": (None, "[a, b, ...]: a + b + ..."),
    "ratio": (2, "[a, b]: a / b (null when b is 0)"),
    "linear": (None, "{ column = weight, ... }: the weighted sum"),
    "years_between": (2, "[earlier, later]: years from a date/time to another"),
    "seconds_between": (2, "[earlier, later]: seconds from a date/time to another"),
    "haversine": (4, "[lat1, lon1, lat2, lon2]: great-circle distance in km"),
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_EARTH_KM: Final = 6371.0088
_YEAR_US: Final = 365.25 * 86_400 * 1_000_000
_SECOND_US: Final = 1_000_000.0
_INSTANTS: Final = {"years_between": _YEAR_US, "seconds_between": _SECOND_US}
_DATES: Final = TimestampFormat()  # ISO 8601, a bare date is midnight


@dataclass(frozen=True, slots=True)
class Derivation:
    """One derived attribute: an operation over named inputs (with weights for ``linear``)."""

    operation: str
    inputs: tuple[str, ...]
    weights: tuple[float, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        """The inputs read from the source file (canonical names are not)."""
        return tuple(name for name in self.inputs if name not in KNOWN_COLUMNS)


def read_derive(table: object, origin: str) -> dict[str, Derivation]:
    """Check a parsed ``[derive]`` table; raises ``MappingError`` naming the offending key."""
    if not isinstance(table, dict):
        raise MappingError(f"{origin}: derive: must be a table ([derive])")
    derived: dict[str, Derivation] = {}
    known = ", ".join(f"{op} = {text}" for op, (_, text) in OPERATIONS.items())
    for name, spec in table.items():
        key = f"{origin}: derive.{name}"
        if not _NAME.match(name) or name in KNOWN_COLUMNS:
            raise MappingError(
                f"{key}: cannot name a derived attribute (a letter, then letters, digits or _, "
                "at most 64, and not a canonical column name)"
            )
        if not isinstance(spec, dict) or len(spec) != 1:
            raise MappingError(f"{key}: {spec!r}: expected one operation, e.g. {{ {known} }}")
        ((operation, args),) = spec.items()
        if operation not in OPERATIONS:
            raise MappingError(f"{key}: unknown operation {operation!r} (known: {known})")
        derived[name] = _derivation(key, operation, args)
    return derived


def _derivation(key: str, operation: str, args: object) -> Derivation:
    arity, text = OPERATIONS[operation]
    if operation == "linear":
        ok = isinstance(args, dict) and args and all(_weight(w) for w in args.values())
        if not ok:
            raise MappingError(f"{key}: linear {args!r}: expected {text} with numeric weights")
        weights = dict(args)  # type: ignore[call-overload]
        return Derivation(operation, tuple(weights), tuple(float(w) for w in weights.values()))
    if not isinstance(args, list) or not all(isinstance(a, str) and a for a in args):
        raise MappingError(f"{key}: {operation} {args!r}: expected {operation} = {text}")
    if (arity is not None and len(args) != arity) or len(args) < 2:
        raise MappingError(f"{key}: {operation} takes {arity or 'two or more'} columns: {text}")
    return Derivation(operation, tuple(args))


def _weight(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def derive_values(
    derived: MappingType[str, Derivation],
    raw: pl.DataFrame,
    canonical: MappingType[str, pl.Series],
    timezone: str,
    *,
    decimal_comma: bool = False,
    formats: MappingType[str, TimestampFormat] | None = None,
) -> tuple[list[pl.Series], list[tuple[str, pl.Series]]]:
    """The derived columns, and (source column, reasons) for inputs that are not numbers/dates.

    ``formats`` says how a source column spells instants (ISO 8601 if it has none)."""
    inputs = _Inputs(raw, canonical, timezone, decimal_comma, formats or {})
    columns = [_compute(name, d, inputs).alias(name) for name, d in derived.items()]
    return columns, list(inputs.problems.items())


class _Inputs:
    """Input columns as numbers or epoch microseconds; a column's bad values are noted once."""

    def __init__(
        self,
        raw: pl.DataFrame,
        canonical: MappingType[str, pl.Series],
        timezone: str,
        decimal_comma: bool,
        formats: MappingType[str, TimestampFormat],
    ) -> None:
        self.formats = formats
        self.raw = raw
        self.canonical = canonical
        self.timezone = timezone
        self.decimal_comma = decimal_comma
        self.problems: dict[str, pl.Series] = {}

    def _series(self, name: str) -> pl.Series:
        if name in KNOWN_COLUMNS:
            if name not in self.canonical:
                raise MappingError(f"derive: canonical column {name!r} is not in this import")
            return self.canonical[name]
        return self.raw.get_column(name)

    def number(self, name: str) -> pl.Series:
        series = self._series(name)
        if series.dtype.is_numeric() or series.dtype == pl.Boolean:
            return series.cast(pl.Float64)
        comma = self.decimal_comma and series.dtype == pl.String
        value = pl.select(as_number(pl.lit(series), decimal_comma=comma)).to_series()
        bad = series.is_not_null() & (value.is_null() | ~value.is_finite().fill_null(True))
        if bad.any():
            text = series.cast(pl.String)
            self._note(name, pl.select(pl.when(bad).then(pl.format("{} is not a number", text))))
        return pl.select(pl.when(~bad).then(value)).to_series()

    def instant_us(self, name: str) -> pl.Series:
        series = self._series(name)
        if isinstance(series.dtype, pl.Date):
            series = series.cast(pl.Datetime("us"))
        if isinstance(series.dtype, pl.Datetime):
            return series.dt.epoch("us").cast(pl.Float64)
        fmt = self.formats.get(name, _DATES)
        if series.dtype != pl.String and not (fmt.kind != "iso" and series.dtype.is_numeric()):
            raise MappingError(
                f"derive: column {name!r} has type {series.dtype}: expected a date or time"
            )
        parsed = parse_timestamps(series, fmt, self.timezone, decimal_comma=self.decimal_comma)
        self._note(name, parsed.errors)
        return parsed.values.dt.epoch("us").cast(pl.Float64)

    def _note(self, name: str, reasons: pl.DataFrame | pl.Series) -> None:
        series = reasons.to_series() if isinstance(reasons, pl.DataFrame) else reasons
        if series.null_count() < len(series) and name not in self.problems:
            self.problems[name] = series.cast(pl.String)


def _compute(name: str, d: Derivation, inputs: _Inputs) -> pl.Series:
    if d.operation in _INSTANTS:
        earlier, later = (inputs.instant_us(n) for n in d.inputs)
        return (later - earlier) / _INSTANTS[d.operation]
    values = [inputs.number(n) for n in d.inputs]
    return _NUMERIC[d.operation](values, d.weights)


def _ratio(values: list[pl.Series], _: tuple[float, ...]) -> pl.Series:
    a, b = values
    return pl.select(pl.when(b != 0).then(a / b)).to_series()


def _linear(values: list[pl.Series], weights: tuple[float, ...]) -> pl.Series:
    total = values[0] * weights[0]
    for value, weight in zip(values[1:], weights[1:], strict=True):
        total = total + value * weight
    return total


def _haversine(values: list[pl.Series], _: tuple[float, ...]) -> pl.Series:
    lat1, lon1, lat2, lon2 = (v.radians() for v in values)
    frame = pl.DataFrame({"a": lat1, "b": lon1, "c": lat2, "d": lon2})
    half = ((pl.col("c") - pl.col("a")) / 2).sin().pow(2) + pl.col("a").cos() * pl.col(
        "c"
    ).cos() * ((pl.col("d") - pl.col("b")) / 2).sin().pow(2)
    return frame.select(2 * _EARTH_KM * half.sqrt().clip(upper_bound=1.0).arcsin()).to_series()


_NUMERIC: Final[dict[str, Callable[[list[pl.Series], tuple[float, ...]], pl.Series]]] = {
    "difference": lambda v, _: v[0] - v[1],
    "sum": lambda v, _: _linear(v, (1.0,) * len(v)),
    "ratio": _ratio,
    "linear": _linear,
    "haversine": _haversine,
}
