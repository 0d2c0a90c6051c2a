"""Turn a source's mapped columns into typed canonical columns, with a reason for every bad value.

Vectorised: each check is a polars expression over the whole column, and every column yields its
values and, aligned with them, a String series of reasons (null where the value is fine). The
importer decides what to do with the rows that have a reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

import polars as pl

from frisk.bounds import AMOUNT_MAX, EARLIEST, FORBIDDEN_TEXT_PATTERN, LATEST
from frisk.currencies import CURRENCIES
from frisk.data.derive import derive_values
from frisk.data.mapping import ID_SEPARATOR, BoundMapping, ExtraKind, Mapping
from frisk.data.numbers import as_number
from frisk.data.table import TIMESTAMP_DTYPE
from frisk.data.timestamps import TimestampFormat, parse_timestamps
from frisk.schema import (
    CORE_COLUMNS,
    NEGATIVE_AMOUNT,
    REQUIRED_COLUMNS,
    LabelValue,
    parse_label,
)

__all__ = ["Converted", "convert"]

_ID_COLUMNS: Final = ("transaction_id", "payer_id", "payee_id", "device_id")
_NAME_COLUMNS: Final = ("channel", "merchant_category", "label_source", "scenario")
_COUNTRY_COLUMNS: Final = ("payer_country", "payee_country")
_MAX_ID: Final = 256
_MAX_NAME: Final = 64
# Values quoted in reasons are cut here so that one absurd cell cannot flood an error message.
_SHOWN: Final = 40
_UNKNOWN_SOURCE: Final = "unknown"


@dataclass(frozen=True, slots=True)
class Converted:
    """Canonical columns and extras (same height as the source) and why rows are bad.

    ``problems`` holds (source column, reasons) pairs in column order; ``reasons`` is a String
    series aligned with the rows, null where that column's value is fine.
    """

    frame: pl.DataFrame
    problems: list[tuple[str, pl.Series]]


def convert(raw: pl.DataFrame, bound: BoundMapping, mapping: Mapping) -> Converted:
    """Convert ``raw`` (the source's needed columns) per ``bound``."""
    return _Converter(_normalise(raw), bound, mapping).run()


class _Converter:
    def __init__(self, raw: pl.DataFrame, bound: BoundMapping, mapping: Mapping) -> None:
        self.raw = raw
        self.bound = bound
        self.mapping = mapping
        self.values: dict[str, pl.Series] = {}
        # canonical column (or extra name) -> reasons; only columns with at least one problem
        self.reasons: dict[str, pl.Series] = {}

    def run(self) -> Converted:
        for canonical in self.bound.columns:
            if canonical not in ("timestamp", "label", "label_timestamp", "label_source"):
                self._column(canonical)
        for canonical, value in self.bound.defaults.items():
            self.values[canonical] = pl.repeat(value, self.raw.height, eager=True).alias(canonical)
        self._timestamp()
        if "label" in self.bound.columns:
            self._labels()
        for canonical in REQUIRED_COLUMNS:
            if canonical in self.values:
                self._require(canonical)
        if self.mapping.derive_id:
            self.values["transaction_id"] = _derive_ids(self.values)
        extras = [self._extra(name, kind) for name, kind in self.bound.extra.items()]
        derived, reasons = derive_values(
            self.bound.derive,
            self.raw,
            self.values,
            self.mapping.timezone,
            decimal_comma=self.mapping.decimal_comma,
            formats=self.mapping.formats,
        )
        for source, found in reasons:
            self.reasons.setdefault(source, found)
        frame = pl.DataFrame([*self.values.values(), *extras, *derived])
        problems = [(self._origin(name), r) for name, r in self.reasons.items()]
        return Converted(frame, problems)

    def _origin(self, name: str) -> str:
        return self.bound.source_of(name) if name in self.bound.columns else name

    # -- one canonical column -------------------------------------------------------------

    def _source(self, canonical: str) -> pl.Series:
        names = self.bound.columns[canonical]
        if len(names) == 1:
            return self.raw.get_column(names[0])
        # A composite id is null when any part is: a half id would collide with other half ids.
        return self.raw.select(
            pl.concat_str([pl.col(n).cast(pl.String) for n in names], separator=ID_SEPARATOR)
        ).to_series()

    def _column(self, canonical: str) -> None:
        source = self._source(canonical)
        frame = pl.DataFrame({"raw": source})
        raw = pl.col("raw")
        text = raw.cast(pl.String)
        reason: pl.Expr
        if canonical == "amount":
            value = as_number(raw, decimal_comma=self._comma(source))
            reason = (
                pl.when(raw.is_null())
                .then(None)
                .when(value.is_null())
                .then(pl.format("{} is not a number", _shown(text)))
                .when(~value.is_finite())
                .then(pl.format("{} is not a finite number", _shown(text)))
                .when(value < 0)
                .then(pl.format("{} " + NEGATIVE_AMOUNT, _shown(text)))
                .when(value > AMOUNT_MAX)
                .then(pl.format("{} must be <= " + f"{AMOUNT_MAX:,.0f}", _shown(text)))
            )
        elif canonical == "currency":
            value = text.str.to_uppercase()
            reason = pl.when(value.is_not_null() & ~value.is_in(list(CURRENCIES))).then(
                pl.format("{} is not an ISO 4217 currency code", _shown(text))
            )
        elif canonical in _COUNTRY_COLUMNS:
            value = text.str.to_uppercase()
            reason = pl.when(value.is_not_null() & ~value.str.contains(r"^[A-Z]{2}$")).then(
                pl.format("{} is not an ISO 3166 alpha-2 country code", _shown(text))
            )
        else:
            limit = _MAX_ID if canonical in _ID_COLUMNS else _MAX_NAME
            value = text if canonical in _ID_COLUMNS else text.str.to_lowercase()
            if canonical == "scenario":
                value = text
            reason = (
                pl.when(value.str.len_chars() > limit)
                .then(pl.format("{} is longer than " + str(limit) + " characters", _shown(text)))
                .when(value.str.contains(FORBIDDEN_TEXT_PATTERN))
                .then(pl.lit("must not contain control or formatting characters"))
            )
        done = frame.select(value=value, reason=reason)
        self._keep(canonical, done)

    def _format(self, canonical: str) -> TimestampFormat:
        names = self.bound.columns[canonical]
        return self.mapping.format_of(names[0])

    def _timestamp(self) -> None:
        fmt, tz = self._format("timestamp"), self.mapping.timezone
        comma = self.mapping.decimal_comma
        parsed = parse_timestamps(self._source("timestamp"), fmt, tz, decimal_comma=comma)
        self.values["timestamp"] = parsed.values.alias("timestamp")
        self._note("timestamp", _within_bounds(parsed.values, parsed.errors))

    def _labels(self) -> None:
        source = self._source("label")
        label, reasons = _read_labels(source)
        self.values["label"] = label
        self._note("label", reasons)
        frame = pl.DataFrame({"label": label, "timestamp": self.values["timestamp"]})
        known = pl.col("label").is_not_null()
        if "label_timestamp" in self.bound.columns:
            fmt, tz = self._format("label_timestamp"), self.mapping.timezone
            parsed = parse_timestamps(
                self._source("label_timestamp"), fmt, tz, decimal_comma=self.mapping.decimal_comma
            )
            frame = frame.with_columns(given=parsed.values, errors=parsed.errors)
        else:
            frame = frame.with_columns(
                given=pl.lit(None, TIMESTAMP_DTYPE), errors=pl.lit(None, pl.String)
            )
        delay = self.mapping.label_delay
        fallback = pl.col("timestamp") + delay if delay is not None else pl.lit(None)
        arrival = pl.coalesce(pl.col("given"), fallback).cast(TIMESTAMP_DTYPE)
        done = frame.select(
            value=pl.when(known).then(arrival),
            reason=pl.when(pl.col("errors").is_not_null())
            .then(pl.col("errors"))
            .when(~known & pl.col("given").is_not_null())
            .then(pl.lit("label_timestamp given but the label is missing"))
            .when(known & (arrival < pl.col("timestamp")))
            .then(pl.lit("label_timestamp is before the transaction's timestamp")),
        )
        self._keep("label_timestamp", done)
        default = self.mapping.label_source or _UNKNOWN_SOURCE
        if "label_source" in self.bound.columns:
            self._column("label_source")
            given = self.values["label_source"]
        else:
            given = pl.Series("label_source", [None] * len(label), dtype=pl.String)
        self.values["label_source"] = (
            pl.DataFrame({"label": label, "given": given})
            .select(pl.when(known).then(pl.col("given").fill_null(default)))
            .to_series()
            .alias("label_source")
        )

    def _require(self, canonical: str) -> None:
        value = self.values[canonical]
        if not value.has_nulls():
            return
        known = self.reasons.get(canonical)
        if known is None:
            known = pl.Series(canonical, [None] * len(value), dtype=pl.String)
        # A value that failed to parse is null too; it keeps its own, better reason.
        reasons = pl.DataFrame({"v": value, "r": known}).select(
            pl.when(pl.col("v").is_null() & pl.col("r").is_null())
            .then(pl.lit("missing"))
            .otherwise(pl.col("r"))
        )
        self._note(canonical, reasons.to_series())

    def _keep(self, canonical: str, done: pl.DataFrame) -> None:
        self.values[canonical] = done.get_column("value").alias(canonical)
        self._note(canonical, done.get_column("reason"))

    def _note(self, name: str, reasons: pl.Series) -> None:
        reasons = reasons.cast(pl.String)
        if reasons.null_count() < len(reasons):
            self.reasons[name] = reasons

    def _comma(self, source: pl.Series) -> bool:
        """Whether ``source``'s numbers are text with decimal commas (typed columns are not)."""
        return self.mapping.decimal_comma and source.dtype == pl.String

    # -- extras --------------------------------------------------------------------------

    def _extra(self, name: str, kind: ExtraKind) -> pl.Series:
        source = self.raw.get_column(name)
        numeric = source.dtype.is_numeric() or source.dtype == pl.Boolean
        comma = self._comma(source)
        if kind == "string" or (
            kind == "auto" and not numeric and not _all_numbers(source, decimal_comma=comma)
        ):
            return source.cast(pl.String) if source.dtype != pl.String else source
        frame = pl.DataFrame({"raw": source})
        raw = pl.col("raw")
        value = as_number(raw, decimal_comma=comma)
        done = frame.select(
            value=value,
            reason=pl.when(raw.is_null())
            .then(None)
            .when(value.is_null())
            .then(pl.format("{} is not a number", _shown(raw.cast(pl.String))))
            .when(~value.is_finite())
            .then(pl.format("{} is not a finite number", _shown(raw.cast(pl.String)))),
        )
        self._note(name, done.get_column("reason"))
        return done.get_column("value").alias(name)


def _within_bounds(values: pl.Series, errors: pl.Series) -> pl.Series:
    """Parse errors, and the times outside ``frisk.bounds``' range (any entry point's)."""
    frame = pl.DataFrame({"v": values, "e": errors})
    outside = (pl.col("v") < EARLIEST) | (pl.col("v") >= LATEST)
    return frame.select(
        pl.when(pl.col("e").is_not_null())
        .then(pl.col("e"))
        .when(outside)
        .then(pl.lit(f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"))
    ).to_series()


def _normalise(raw: pl.DataFrame) -> pl.DataFrame:
    # Text files pad cells and spell "no value" as an empty cell: both mean null here.
    strings = [c for c, t in raw.schema.items() if t == pl.String]
    if not strings:
        return raw
    stripped = pl.col(strings).str.strip_chars()
    return raw.with_columns(pl.when(stripped.str.len_bytes() > 0).then(stripped).name.keep())


def _shown(text: pl.Expr) -> pl.Expr:
    cut = pl.when(text.str.len_chars() > _SHOWN).then(text.str.slice(0, _SHOWN - 3) + pl.lit("..."))
    return pl.format("'{}'", cut.otherwise(text))


def _read_labels(source: pl.Series) -> tuple[pl.Series, pl.Series]:
    # Labels have a handful of distinct spellings, so ``parse_label`` itself reads each distinct
    # value once: the same spellings as a single event, at columnar speed.
    if source.dtype == pl.String:
        source = source.str.to_lowercase()
    elif source.dtype.is_float():
        # A float column's NaN is pandas' "no value": no label yet, like an empty cell.
        source = source.fill_nan(None)
    read: dict[object, int] = {}
    bad: dict[object, str] = {}
    for value in source.drop_nulls().unique().to_list():
        try:
            read[value] = 1 if parse_label(value) is LabelValue.FRAUD else 0
        except ValueError as exc:
            bad[value] = str(exc)
    label = source.replace_strict(read, default=None, return_dtype=pl.Int8).alias("label")
    reasons = source.replace_strict(bad, default=None, return_dtype=pl.String).alias("label")
    return label, reasons


def _all_numbers(source: pl.Series, *, decimal_comma: bool) -> bool:
    if source.dtype != pl.String:
        return False
    present = pl.DataFrame({"v": source.drop_nulls()})
    parsed = present.select(as_number(pl.col("v"), decimal_comma=decimal_comma)).to_series()
    return len(present) > 0 and parsed.null_count() == 0


def _derive_ids(values: dict[str, pl.Series]) -> pl.Series:
    """A stable id per row: a hash of its canonical content, plus its occurrence number.

    The hash is blake2b, not polars' own hash (which may change between versions), so the same
    file gives the same ids on every run and every install. Exact repeats stay distinct: the
    second one gets ``:2``, and so on, in file order.
    """
    parts = [c for c in CORE_COLUMNS if c in values and c != "transaction_id"]
    frame = pl.DataFrame([values[c] for c in parts])
    # Instants as integers: formatting a million datetimes as text is the slow part otherwise.
    cells = [
        (pl.col(c).cast(pl.Int64) if isinstance(t, pl.Datetime) else pl.col(c))
        .cast(pl.String)
        .fill_null("\x00")
        for c, t in frame.schema.items()
    ]
    key = frame.select(pl.concat_str(cells, separator="\x1f")).to_series()
    digests = [hashlib.blake2b(k.encode(), digest_size=8).hexdigest() for k in key.to_list()]
    ids = pl.Series("transaction_id", digests, dtype=pl.String)
    repeated = ids.is_duplicated()
    if not repeated.any():
        return ids
    # Numbered per digest, not per key: a (2**-64) collision of two different rows still gets two
    # ids. Only repeats are numbered; a window over a million unique strings is slow.
    frame = pl.DataFrame({"id": ids, "row": pl.int_range(len(ids), eager=True)})
    numbered = (
        frame.filter(repeated)
        .with_columns(n=pl.int_range(1, pl.len() + 1).over("id"))
        .filter(pl.col("n") > 1)
        .select("row", pl.format("{}:{}", pl.col("id"), pl.col("n")).alias("numbered"))
    )
    return ids.scatter(numbered.get_column("row"), numbered.get_column("numbered"))
