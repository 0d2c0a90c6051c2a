"""Column mappings: how a source file's columns become the canonical event table.

A mapping is a TOML file with three tables::

    [columns]                      # canonical name = source column (or a list, joined with ":")
    transaction_id = ["trans_num", "cc_num"]
    timestamp = "trans_date_trans_time"
    amount = "amt"
    [defaults]                     # constants for canonical columns the source lacks
    currency = "USD"
    [options]
    timestamp_format = "%Y-%m-%d %H:%M:%S"
    label_delay = "7d"
    extra = ["lat", "long"]
    [columns.formats]              # source column -> how it spells instants (default: ISO 8601
    signup_time = "%m/%d/%y %H:%M" # for [derive] inputs, timestamp_format for the event's own)
    [derive]                       # numeric attributes computed at import (see frisk.data.derive)
    age_years = { years_between = ["dob", "timestamp"] }
    signup_age_s = { seconds_between = ["signup_time", "timestamp"] }

A canonical column that is neither mapped nor defaulted is taken from a source column of the same
name when there is one. ``Mapping.load`` checks the file on its own; ``Mapping.bind`` checks it
against a source's columns.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping as MappingType
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Literal, cast

from frisk.currencies import is_currency
from frisk.data.derive import Derivation, read_derive
from frisk.data.timestamps import TimestampFormat, check_timezone
from frisk.errors import DataFormatError, MappingError
from frisk.schema import (
    CORE_COLUMNS,
    KNOWN_COLUMNS,
    LABEL_COLUMNS,
    REQUIRED_COLUMNS,
    SCENARIO_COLUMN,
)

__all__ = ["BoundMapping", "DuplicatePolicy", "ExtraKind", "Mapping"]

DuplicatePolicy = Literal["error", "keep_first", "drop_all"]
ExtraKind = Literal["auto", "number", "string"]

MAPPABLE: Final = (*CORE_COLUMNS, *LABEL_COLUMNS, SCENARIO_COLUMN)
# Columns whose value may be built from several source columns joined with ":".
COMPOSABLE: Final = ("transaction_id", "payer_id", "payee_id", "device_id")
# Constants make sense only for attributes shared by the whole file; an amount or a time must
# come from the data. A payer or payee constant is for data that has no such id at all (the
# European card data set): the whole file is then one entity, whose velocity is all traffic's.
DEFAULTABLE: Final = (
    "currency",
    "channel",
    "merchant_category",
    "payer_country",
    "payee_country",
    "payer_id",
    "payee_id",
)
ID_SEPARATOR: Final = ":"

_SECTIONS: Final = ("columns", "defaults", "options", "derive")
_OPTIONS: Final = (
    "timestamp_format",
    "timezone",
    "label_delay",
    "label_source",
    "extra",
    "transaction_id",
    "duplicates",
    "decimal_comma",
)
_DUPLICATES: Final = ("error", "keep_first", "drop_all")
_EXTRA_KINDS: Final = ("auto", "number", "string")
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_DELAY_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_EXTRA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class Mapping:
    """A checked column mapping. ``Mapping()`` reads a file that is already canonical."""

    columns: MappingType[str, tuple[str, ...]] = field(default_factory=dict)
    defaults: MappingType[str, str] = field(default_factory=dict)
    timestamp_format: TimestampFormat = field(default_factory=TimestampFormat)
    timezone: str = "UTC"
    label_delay: timedelta | None = None
    label_source: str | None = None
    # Source column -> how to type it. None: the file is canonical (no mapping file), so every
    # column that is not canonical is kept.
    extra: MappingType[str, ExtraKind] | None = None
    derive_id: bool = False
    duplicates: DuplicatePolicy = "error"
    decimal_comma: bool = False  # numbers in text are written 1.234,56 (see frisk.data.numbers)
    # Derived attribute name -> how to compute it from other columns.
    derive: MappingType[str, Derivation] = field(default_factory=dict)
    # Source column -> how it spells instants, over timestamp_format (timestamp, label_timestamp)
    # or ISO 8601 (date columns read by [derive]).
    formats: MappingType[str, TimestampFormat] = field(default_factory=dict)
    origin: str = "no mapping"

    @classmethod
    def load(cls, path: Path) -> Mapping:
        """Read and check a TOML mapping file."""
        if not path.is_file():
            raise MappingError(f"mapping {str(path)!r}: no such file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(f"mapping {str(path)!r}: not valid TOML ({exc})") from exc
        return cls.from_dict(data, origin=f"mapping {str(path)!r}")

    @classmethod
    def from_dict(cls, data: MappingType[str, Any], origin: str = "mapping") -> Mapping:
        """Check a parsed mapping; raises ``MappingError`` naming the offending key."""
        return _Reader(origin).read(data)

    def bind(self, available: Sequence[str]) -> BoundMapping:
        """Check the mapping against a source's columns and resolve what comes from where."""
        return _bind(self, list(available))

    def format_of(self, source: str, default: TimestampFormat | None = None) -> TimestampFormat:
        """How source column ``source`` spells instants: its own format, else ``default``
        (else ``timestamp_format``)."""
        own = self.formats.get(source)
        if own is not None:
            return own
        return default if default is not None else self.timestamp_format


@dataclass(frozen=True, slots=True)
class BoundMapping:
    """A mapping resolved against one source's columns."""

    # canonical column -> source column(s); identity matches included
    columns: dict[str, tuple[str, ...]]
    # canonical column -> constant
    defaults: dict[str, str]
    # source column -> kind, kept as an extra attribute under its own name
    extra: dict[str, ExtraKind]
    # source columns the mapping does not use, in source order
    unused: tuple[str, ...]
    # derived attribute -> how to compute it
    derive: dict[str, Derivation] = field(default_factory=dict)

    @property
    def needed(self) -> list[str]:
        """Source columns to read, in a stable order."""
        names = [name for sources in self.columns.values() for name in sources]
        derived = [name for d in self.derive.values() for name in d.sources]
        return list(dict.fromkeys([*names, *self.extra, *derived]))

    def source_of(self, canonical: str) -> str:
        """How to name a canonical column's origin in messages: its source column(s)."""
        return "+".join(self.columns.get(canonical, (canonical,)))


class _Reader:
    """Checks a parsed TOML mapping, one section at a time."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, message: str) -> MappingError:
        return MappingError(f"{self.origin}: {key}: {message}")

    def read(self, data: MappingType[str, Any]) -> Mapping:
        for section in data:
            if section not in _SECTIONS:
                raise self.fail(section, f"unknown section (expected {', '.join(_SECTIONS)})")
        table = dict(self._table(data, "columns"))
        formats = self._formats(table.pop("formats", {}))
        columns = self._columns(table)
        defaults = self._defaults(self._table(data, "defaults"), columns)
        options = self._table(data, "options")
        for key in options:
            if key not in _OPTIONS:
                raise self.fail(f"options.{key}", f"unknown option (known: {', '.join(_OPTIONS)})")
        derive = self._derive(options, columns)
        derived = read_derive(data.get("derive", {}), self.origin)
        extra = self._extra(options)
        clash = sorted(set(derived) & set(extra))
        if clash:
            raise self.fail("derive", f"{clash[0]!r} is also an extra column; rename one")
        return Mapping(
            columns=columns,
            defaults=defaults,
            timestamp_format=self._format(options),
            timezone=self._timezone(options),
            label_delay=self._delay(options),
            label_source=self._label_source(options),
            extra=extra,
            derive_id=derive,
            duplicates=self._duplicates(options),
            decimal_comma=self._decimal_comma(options),
            derive=derived,
            formats=formats,
            origin=self.origin,
        )

    def _table(self, data: MappingType[str, Any], name: str) -> dict[str, Any]:
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise self.fail(name, "must be a table ([" + name + "])")
        return table

    def _columns(self, table: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        columns: dict[str, tuple[str, ...]] = {}
        for canonical, value in table.items():
            key = f"columns.{canonical}"
            if canonical not in MAPPABLE:
                raise self.fail(key, f"unknown canonical column (known: {', '.join(MAPPABLE)})")
            if isinstance(value, str) and value:
                columns[canonical] = (value,)
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                if canonical not in COMPOSABLE:
                    raise self.fail(
                        key, f"only {', '.join(COMPOSABLE)} can be built from several columns"
                    )
                if len(set(value)) != len(value):
                    raise self.fail(key, "names the same source column twice")
                columns[canonical] = tuple(value)
            else:
                raise self.fail(key, f"{value!r}: expected a source column name or a list of them")
        return columns

    def _formats(self, table: object) -> dict[str, TimestampFormat]:
        if not isinstance(table, dict):
            raise self.fail(
                "columns.formats",
                f"{table!r}: expected a table of source column = format "
                "(e.g. signup_time = '%m/%d/%y %H:%M')",
            )
        formats: dict[str, TimestampFormat] = {}
        for column, value in table.items():
            key = f"columns.formats.{column}"
            if not isinstance(value, str):
                raise self.fail(key, f"{value!r}: expected a format string")
            try:
                formats[column] = TimestampFormat.parse(value)
            except ValueError as exc:
                raise self.fail(key, str(exc)) from None
        return formats

    def _defaults(
        self, table: dict[str, Any], columns: dict[str, tuple[str, ...]]
    ) -> dict[str, str]:
        defaults: dict[str, str] = {}
        for canonical, value in table.items():
            key = f"defaults.{canonical}"
            if canonical not in MAPPABLE:
                raise self.fail(key, f"unknown canonical column (known: {', '.join(MAPPABLE)})")
            if canonical not in DEFAULTABLE:
                raise self.fail(
                    key, f"cannot have a default (only {', '.join(DEFAULTABLE)}): map a column"
                )
            if canonical in columns:
                raise self.fail(key, "is also mapped in [columns]; keep one of the two")
            if not isinstance(value, str) or not value.strip():
                raise self.fail(key, f"{value!r}: expected a non-empty string")
            defaults[canonical] = self._default_value(key, canonical, value.strip())
        return defaults

    def _default_value(self, key: str, canonical: str, value: str) -> str:
        if canonical == "currency":
            if not is_currency(value.upper()):
                raise self.fail(key, f"{value!r} is not an ISO 4217 currency code")
            return value.upper()
        if canonical.endswith("_country"):
            if not _COUNTRY.match(value.upper()):
                raise self.fail(key, f"{value!r} is not an ISO 3166 alpha-2 country code")
            return value.upper()
        if len(value) > 64:
            raise self.fail(key, "longer than 64 characters")
        return value if canonical.endswith("_id") else value.lower()

    def _format(self, options: dict[str, Any]) -> TimestampFormat:
        value = options.get("timestamp_format", "iso")
        if not isinstance(value, str):
            raise self.fail("options.timestamp_format", f"{value!r}: expected a string")
        try:
            return TimestampFormat.parse(value)
        except ValueError as exc:
            raise self.fail("options.timestamp_format", str(exc)) from None

    def _decimal_comma(self, options: dict[str, Any]) -> bool:
        value = options.get("decimal_comma", False)
        if not isinstance(value, bool):
            raise self.fail("options.decimal_comma", f"{value!r}: expected true or false")
        return value

    def _timezone(self, options: dict[str, Any]) -> str:
        value = options.get("timezone", "UTC")
        try:
            return check_timezone(value if isinstance(value, str) else repr(value))
        except ValueError as exc:
            raise self.fail("options.timezone", str(exc)) from None

    def _delay(self, options: dict[str, Any]) -> timedelta | None:
        value = options.get("label_delay")
        if value is None:
            return None
        match = _DELAY.match(value) if isinstance(value, str) else None
        if match is None:
            raise self.fail(
                "options.label_delay", f"{value!r}: expected a number and a unit s, m, h or d"
            )
        amount, unit = match.groups()
        return timedelta(**{_DELAY_UNITS[unit]: float(amount)})

    def _label_source(self, options: dict[str, Any]) -> str | None:
        value = options.get("label_source")
        if value is not None and (not isinstance(value, str) or not 0 < len(value.strip()) <= 64):
            raise self.fail("options.label_source", f"{value!r}: expected a name of 1-64 chars")
        return None if value is None else value.strip()

    def _extra(self, options: dict[str, Any]) -> dict[str, ExtraKind]:
        value = options.get("extra", [])
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            extra = dict.fromkeys(value, "auto")
        elif isinstance(value, dict) and all(v in _EXTRA_KINDS for v in value.values()):
            extra = dict(value)
        else:
            raise self.fail(
                "options.extra",
                f"{value!r}: expected a list of source columns, or a table of "
                f"column = {' | '.join(repr(k) for k in _EXTRA_KINDS)}",
            )
        for name in extra:
            if name in KNOWN_COLUMNS:
                raise self.fail("options.extra", f"{name!r} is a canonical column name")
            if not _EXTRA_NAME.match(name):
                raise self.fail(
                    "options.extra",
                    f"{name!r} cannot name an extra attribute "
                    "(a letter, then letters, digits or _, at most 64)",
                )
        return cast(dict[str, ExtraKind], extra)

    def _derive(self, options: dict[str, Any], columns: dict[str, tuple[str, ...]]) -> bool:
        value = options.get("transaction_id")
        if value is None:
            return False
        if value != "derive":
            raise self.fail("options.transaction_id", f"{value!r}: the only choice is 'derive'")
        if "transaction_id" in columns:
            raise self.fail(
                "options.transaction_id", "'derive' while columns.transaction_id is mapped"
            )
        return True

    def _duplicates(self, options: dict[str, Any]) -> DuplicatePolicy:
        value = options.get("duplicates", "error")
        if value not in _DUPLICATES:
            raise self.fail(
                "options.duplicates", f"{value!r}: expected one of {', '.join(_DUPLICATES)}"
            )
        return cast(DuplicatePolicy, value)


def _bind(mapping: Mapping, available: list[str]) -> BoundMapping:
    present = set(available)
    listing = ", ".join(repr(c) for c in available)
    for canonical, sources in mapping.columns.items():
        for name in sources:
            if name not in present:
                raise MappingError(
                    f"{mapping.origin}: columns.{canonical}: source column {name!r} is not in "
                    f"the file; its columns are {listing}"
                )
    columns = dict(mapping.columns)
    for canonical in MAPPABLE:
        taken = canonical in columns or canonical in mapping.defaults
        if not taken and canonical in present:
            columns[canonical] = (canonical,)
    if mapping.extra is None:
        lacking = [c for c in REQUIRED_COLUMNS if c not in columns]
        if lacking:
            raise MappingError(
                f"the file is not canonical: it has no {', '.join(map(repr, lacking))} "
                f"column; import it with a mapping (--mapping); its columns are {listing}"
            )
    if mapping.derive_id:
        columns.pop("transaction_id", None)
    elif "transaction_id" not in columns:
        raise MappingError(
            f"{mapping.origin}: no transaction_id: map one (transaction_id = 'ref', or a list "
            "of columns) or set options.transaction_id = 'derive'; the file's columns are "
            f"{listing}"
        )
    for canonical in REQUIRED_COLUMNS:
        if canonical not in columns and canonical not in mapping.defaults:
            if canonical == "transaction_id" and mapping.derive_id:
                continue
            raise MappingError(
                f"{mapping.origin}: {canonical} is not mapped and the file has no "
                f"{canonical!r} column; its columns are {listing}"
            )
    used = {name for sources in columns.values() for name in sources}
    if mapping.extra is None:
        # "_"-prefixed columns are private to whoever wrote the table (see table.extra_columns).
        extra = {n: _auto(n) for n in available if n not in used and not n.startswith("_")}
    else:
        if "label" in columns and "label_timestamp" not in columns and mapping.label_delay is None:
            raise MappingError(
                f"{mapping.origin}: label is mapped but not when it became known: map "
                "label_timestamp or set options.label_delay (e.g. '7d'; '0s' if labels are "
                "known at once)"
            )
        for name in mapping.extra:
            if name not in present:
                raise MappingError(
                    f"{mapping.origin}: options.extra: source column {name!r} is not in the "
                    f"file; its columns are {listing}"
                )
        extra = dict(mapping.extra)
    for name, derivation in mapping.derive.items():
        for source in derivation.sources:
            if source not in present:
                raise MappingError(
                    f"{mapping.origin}: derive.{name}: source column {source!r} is not in the "
                    f"file; its columns are {listing}"
                )
        for canonical in set(derivation.inputs) - set(derivation.sources):
            if canonical not in columns and canonical not in mapping.defaults:
                raise MappingError(
                    f"{mapping.origin}: derive.{name}: canonical column {canonical!r} is not mapped"
                )
    for name in mapping.formats:
        if name not in present:
            raise MappingError(
                f"{mapping.origin}: columns.formats: source column {name!r} is not in the "
                f"file; its columns are {listing}"
            )
    used |= set(extra) | {s for d in mapping.derive.values() for s in d.sources}
    unused = tuple(name for name in available if name not in used)
    return BoundMapping(columns, dict(mapping.defaults), extra, unused, dict(mapping.derive))


def _auto(name: str) -> ExtraKind:
    # Without a mapping every unknown column is an extra, so its name must be usable as one.
    if not _EXTRA_NAME.match(name):
        raise DataFormatError(
            f"column {name!r} is not a canonical column and cannot name an extra attribute "
            "(a letter, then letters, digits or _); import the file with a mapping"
        )
    return "auto"
