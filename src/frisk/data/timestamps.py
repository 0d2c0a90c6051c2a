"""Read a source column of timestamps into UTC instants, vectorised, naming every row that fails.

Formats (the ``timestamp_format`` option of a mapping):

- ``iso``: ISO 8601 text, ``T`` or space between date and time, optional fraction, optional
  offset (``Z``, ``+02:00``, ``+0200``); a bare date is midnight. Naive values are read in the
  mapping's timezone.
- a ``strftime`` pattern (anything containing ``%``), e.g. ``%Y-%m-%d %H:%M:%S``; naive unless
  the pattern has ``%z``.
- ``unix_s`` / ``unix_ms``: seconds / milliseconds since 1970-01-01T00:00:00Z (fractions kept to
  the microsecond).
- ``seconds_since:<ISO instant>`` (and ``minutes_since``, ``hours_since``, ``days_since``):
  a number of units (fractions allowed) since a fixed origin, for data whose clock is an offset
  with no calendar date: PaySim's ``step`` (hours), the ``Time`` of the European card data set
  and IEEE-CIS's ``TransactionDT`` (seconds). A naive origin is UTC.

Columns that are already ``Datetime``/``Date`` (Parquet) are taken as they are whatever the format:
the format only says how to read text and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from frisk.data.numbers import as_number

__all__ = [
    "NAIVE_REFUSED",
    "ParsedTimestamps",
    "TimestampFormat",
    "check_timezone",
    "parse_timestamps",
]

#: the timezone that reads no wall-clock value: only times with an offset are accepted, as the
#: JSON API accepts them (uploads without a mapping)
NAIVE_REFUSED: Final = ""

FormatKind = Literal[
    "iso",
    "strftime",
    "unix_s",
    "unix_ms",
    "seconds_since",
    "minutes_since",
    "hours_since",
    "days_since",
]

_US: Final = pl.Datetime("us", "UTC")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Microseconds per unit of the "<unit>_since:<origin>" formats.
_SINCE: Final = {
    "seconds_since": 1e6,
    "minutes_since": 6e7,
    "hours_since": 3.6e9,
    "days_since": 8.64e10,
}
# Microseconds either side of the epoch we accept from numbers: about year 1653 .. 2286. Larger
# values are almost always the wrong unit (milliseconds read as seconds) and would overflow.
_MAX_ABS_US: Final = 10**16
# ISO 8601 spellings, tried in order; the text is normalised first ("Z" -> "+00:00", " " -> "T").
_ISO_AWARE: Final = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")
_ISO_NAIVE: Final = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M")


@dataclass(frozen=True, slots=True)
class TimestampFormat:
    """How a source column spells its instants; build it with ``TimestampFormat.parse``."""

    kind: FormatKind = "iso"
    pattern: str = ""
    origin: datetime | None = None

    @classmethod
    def parse(cls, text: str) -> TimestampFormat:
        """Read a format spelling; raises ``ValueError`` saying what is accepted."""
        spelled = text.strip()
        if spelled in ("iso", "unix_s", "unix_ms"):
            return cls(kind=spelled)  # type: ignore[arg-type]
        kind, colon, raw = spelled.partition(":")
        if colon and kind in _SINCE:
            raw = raw.strip()
            try:
                origin = datetime.fromisoformat(raw)
            except ValueError:
                raise ValueError(
                    f"{text!r}: the origin {raw!r} is not an ISO 8601 instant "
                    f"(e.g. {kind}:2024-01-01T00:00:00Z)"
                ) from None
            origin = origin.replace(tzinfo=UTC) if origin.tzinfo is None else origin
            return cls(kind=kind, origin=origin.astimezone(UTC))  # type: ignore[arg-type]
        if "%" in spelled:
            return cls(kind="strftime", pattern=spelled)
        raise ValueError(
            f"{text!r} is not a timestamp format: use 'iso', 'unix_s', 'unix_ms', "
            "'<unit>_since:<ISO instant>' (unit: seconds, minutes, hours or days) or a "
            "strftime pattern such as '%Y-%m-%d %H:%M:%S'"
        )

    def __str__(self) -> str:
        if self.kind == "strftime":
            return self.pattern
        if self.kind in _SINCE and self.origin is not None:
            return f"{self.kind}:{self.origin.isoformat()}"
        return self.kind


@dataclass(frozen=True, slots=True)
class ParsedTimestamps:
    """``values``: Datetime(us, UTC), null where the source is null or failed.

    ``errors``: String, why the row failed; null where it parsed or the source is null (a missing
    value is the caller's business: it may be allowed).
    """

    values: pl.Series
    errors: pl.Series


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA timezone; raises ``ValueError`` otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA timezone (e.g. 'UTC', 'Europe/Paris')") from None
    return name


def parse_timestamps(
    source: pl.Series, fmt: TimestampFormat, timezone: str = "UTC", *, decimal_comma: bool = False
) -> ParsedTimestamps:
    """Parse ``source`` per ``fmt``; naive wall-clock values are read in ``timezone``; numbers
    in text are written ``1.234,5`` with ``decimal_comma`` (see ``frisk.data.numbers``)."""
    dtype = source.dtype
    if isinstance(dtype, pl.Datetime):
        return _from_datetime(source, timezone)
    if dtype == pl.Date:
        return _from_datetime(source.cast(pl.Datetime("us")), timezone)
    if fmt.kind in ("unix_s", "unix_ms") or fmt.kind in _SINCE:
        return _from_numbers(source, fmt, decimal_comma and dtype == pl.String)
    text = source if dtype == pl.String else source.cast(pl.String)
    if fmt.kind == "strftime":
        return _from_pattern(text, fmt.pattern, timezone)
    return _from_iso(text, timezone)


def _from_datetime(source: pl.Series, timezone: str) -> ParsedTimestamps:
    frame = pl.DataFrame({"raw": source})
    if getattr(source.dtype, "time_zone", None) is not None:
        parsed = pl.col("raw").dt.convert_time_zone("UTC").cast(_US)
    else:
        parsed = _localize(pl.col("raw").cast(pl.Datetime("us")), timezone)
    errors = _reasons(pl.lit(value=True), parsed, "", timezone)
    return _result(frame.select(values=parsed, errors=errors), source.name)


def _from_numbers(source: pl.Series, fmt: TimestampFormat, decimal_comma: bool) -> ParsedTimestamps:
    frame = pl.DataFrame({"raw": source})
    number = as_number(pl.col("raw"), decimal_comma=decimal_comma)
    if fmt.kind == "unix_s":
        micros = number * 1e6
    elif fmt.kind == "unix_ms":
        micros = number * 1e3
    else:
        assert fmt.origin is not None
        origin_us = (fmt.origin - _EPOCH) // timedelta(microseconds=1)  # exact before 1970 too
        micros = number * _SINCE[fmt.kind] + origin_us
    fits = micros.is_finite() & (micros.abs() < _MAX_ABS_US)
    values = pl.when(fits).then(micros.round(0).cast(pl.Int64)).cast(pl.Datetime("us"))
    shown = pl.col("raw").cast(pl.String)
    result = frame.select(
        values=values.dt.replace_time_zone("UTC"),
        errors=pl.when(pl.col("raw").is_null())
        .then(None)
        .when(number.is_null())
        .then(pl.format("'{}' is not a number ({})", shown, pl.lit(str(fmt))))
        .when(~fits)
        .then(pl.format("{} is out of range for {}", shown, pl.lit(str(fmt)))),
    )
    return _result(result, source.name)


def _from_pattern(text: pl.Series, pattern: str, timezone: str) -> ParsedTimestamps:
    frame = pl.DataFrame({"raw": text})
    raw = pl.col("raw").str.strip_chars()
    if "%z" in pattern or "%:z" in pattern:
        parsed = raw.str.strptime(_US, pattern, strict=False)
        naive_ok = parsed.is_not_null()
    else:
        wall = raw.str.strptime(pl.Datetime("us"), pattern, strict=False)
        parsed = _localize(wall, timezone)
        naive_ok = wall.is_not_null()
    errors = _reasons(naive_ok, parsed, pattern, timezone)
    return _result(frame.select(values=parsed, errors=errors), text.name)


def _from_iso(text: pl.Series, timezone: str) -> ParsedTimestamps:
    frame = pl.DataFrame({"raw": text})
    norm = (
        pl.col("raw")
        .str.strip_chars()
        .str.replace(r"[zZ]$", "+00:00")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ t]", "${1}T")
    )
    aware = pl.coalesce([norm.str.strptime(_US, p, strict=False) for p in _ISO_AWARE])
    wall = pl.coalesce(
        [
            *(norm.str.strptime(pl.Datetime("us"), p, strict=False) for p in _ISO_NAIVE),
            norm.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(pl.Datetime("us")),
        ]
    )
    parsed = pl.coalesce([aware, _localize(wall, timezone)])
    naive_ok = aware.is_not_null() | wall.is_not_null()
    errors = _reasons(naive_ok, parsed, "ISO 8601", timezone)
    return _result(frame.select(values=parsed, errors=errors), text.name)


def _localize(wall: pl.Expr, timezone: str) -> pl.Expr:
    # A wall-clock time that a DST change skips does not exist: it is reported, not shifted. One
    # that occurs twice is read as the earlier instant, as most logs written in local time mean.
    if timezone == NAIVE_REFUSED:
        return pl.lit(None, dtype=_US)
    return (
        wall.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .cast(_US)
    )


def _reasons(read: pl.Expr, parsed: pl.Expr, fmt: str, timezone: str) -> pl.Expr:
    raw = pl.col("raw")
    return (
        pl.when(raw.is_null() | parsed.is_not_null())
        .then(None)
        .when(read & pl.lit(timezone == NAIVE_REFUSED))
        .then(
            pl.format(
                "'{}' has no UTC offset: write Z or +hh:mm, or name a mapping with a timezone",
                raw.cast(pl.String),
            )
        )
        .when(read)
        .then(
            pl.format("'{}' does not exist in timezone {}", raw.cast(pl.String), pl.lit(timezone))
        )
        .otherwise(pl.format("'{}' does not match {}", raw, pl.lit(fmt)))
    )


def _result(result: pl.DataFrame, name: str) -> ParsedTimestamps:
    values = result.get_column("values").cast(_US)
    errors = result.get_column("errors").cast(pl.String)
    return ParsedTimestamps(values.alias(name), errors.alias(name))
