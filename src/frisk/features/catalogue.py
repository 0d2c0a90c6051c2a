"""Catalogues: named, versioned sets of feature definitions, loaded from TOML.

A catalogue file lists groups of features; every list-valued field of a group is expanded into
one feature per combination::

    name = "lean"
    retention = "30d"          # entity history is forgotten after this much idle time
    label_horizon = "180d"     # labels arriving later than this after their transaction are ignored
    extras = "all"             # extra columns of the table as features: "all", "none" or a list

    [[features]]
    kind = "window"
    key = ["payer", "payee"]
    window = ["1h", "24h"]
    agg = ["count", "sum"]

``resolve_catalogue("default", table)`` loads the catalogue shipped with Frisk; any other value is
a path. ``version`` is a hash of everything that changes a value, so artifacts and state snapshots
can refuse a catalogue they were not built with.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

import polars as pl

from frisk.data.table import extra_columns
from frisk.errors import FeatureError
from frisk.features.spec import (
    AGGREGATES,
    ATTRIBUTES,
    CALENDAR,
    ENTITY_FIELDS,
    KEYS,
    LABEL_CLOCKS,
    LABEL_STATS,
    RELATIVE_STATS,
    FeatureSpec,
    Window,
    format_duration,
    parse_duration,
)

__all__ = ["Catalogue", "load_catalogue", "resolve_catalogue"]

DEFAULT_RETENTION: Final = "30d"
DEFAULT_LABEL_HORIZON: Final = "180d"
_TOP_KEYS: Final = {"name", "retention", "label_horizon", "extras", "features", "description"}
# Fields each kind accepts, and the values they may take (None: checked separately).
_FIELDS: Final[dict[str, dict[str, tuple[str, ...] | None]]] = {
    "window": {"key": tuple(KEYS), "window": None, "agg": tuple(AGGREGATES)},
    "distinct": {"key": tuple(KEYS), "of": tuple(ENTITY_FIELDS), "window": None},
    "recency": {"key": tuple(KEYS)},
    "age": {"key": tuple(KEYS)},
    "first_time": {"key": tuple(KEYS)},
    "relative": {"key": tuple(KEYS), "agg": tuple(RELATIVE_STATS), "n": None},
    "label": {
        "key": tuple(KEYS),
        "agg": tuple(LABEL_STATS),
        "window": None,
        "clock": LABEL_CLOCKS,
    },
    "calendar": {"agg": CALENDAR},
    "attribute": {"agg": tuple(ATTRIBUTES)},
    "ratio": {"of": None, "to": None},
}
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "window": ("key", "window", "agg"),
    "distinct": ("key", "of", "window"),
    "recency": ("key",),
    "age": ("key",),
    "first_time": ("key",),
    "relative": ("key", "agg", "n"),
    "label": ("key", "agg", "window"),
    "calendar": (),
    "attribute": ("agg",),
    "ratio": ("of", "to"),
}


@dataclass(frozen=True)
class Catalogue:
    """A named, ordered set of features; ``version`` hashes the definitions."""

    name: str
    specs: tuple[FeatureSpec, ...]
    retention: int = field(default_factory=lambda: parse_duration(DEFAULT_RETENTION))
    label_horizon: int = field(default_factory=lambda: parse_duration(DEFAULT_LABEL_HORIZON))

    def __post_init__(self) -> None:
        seen: set[str] = set()
        numeric = {spec.name for spec in self.specs if not spec.categorical}
        for spec in self.specs:
            if spec.kind == "ratio":
                for part in (spec.of, spec.to):
                    if part not in numeric or part == spec.name:
                        raise FeatureError(
                            f"catalogue {self.name!r}: ratio {spec.name!r} needs {part!r}, "
                            "a numeric feature of the catalogue"
                        )
            if spec.name in seen:
                raise FeatureError(f"catalogue {self.name!r}: feature {spec.name!r} appears twice")
            seen.add(spec.name)
            if (
                spec.window is not None
                and spec.kind != "label"
                and (spec.window.length > self.retention)
            ):
                raise FeatureError(
                    f"catalogue {self.name!r}: window of {spec.name!r} is longer than the "
                    f"retention {format_duration(self.retention)}"
                )

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    @property
    def categorical(self) -> list[str]:
        return [spec.name for spec in self.specs if spec.categorical]

    @property
    def version(self) -> str:
        body = json.dumps(self._definition(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form; ``from_dict`` reads it back."""
        return {"name": self.name, "version": self.version, **self._definition()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalogue:
        try:
            specs = tuple(_spec_from_dict(item) for item in data["features"])
            catalogue = cls(
                name=str(data["name"]),
                specs=specs,
                retention=parse_duration(str(data["retention"])),
                label_horizon=parse_duration(str(data["label_horizon"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FeatureError(f"catalogue dict is malformed: {exc!r}") from exc
        expected = data.get("version")
        if expected is not None and expected != catalogue.version:
            raise FeatureError(
                f"catalogue {catalogue.name!r}: version {expected!r} does not match its "
                f"definitions (hash {catalogue.version!r})"
            )
        return catalogue

    def _definition(self) -> dict[str, Any]:
        return {
            "retention": format_duration(self.retention),
            "label_horizon": format_duration(self.label_horizon),
            "features": [spec.to_dict() for spec in self.specs],
        }


def resolve_catalogue(name_or_path: str | Path, table: pl.DataFrame | None = None) -> Catalogue:
    """Load the catalogue ``"default"`` or a TOML file, binding the extra columns of ``table``."""
    if str(name_or_path) == "default":
        text = resources.files("frisk.features").joinpath("default.toml").read_text("utf-8")
        return load_catalogue(text, table, source="default")
    path = Path(name_or_path)
    if not path.is_file():
        raise FeatureError(f"catalogue {str(name_or_path)!r}: not 'default' and no such file")
    return load_catalogue(path.read_text("utf-8"), table, source=str(path))


def load_catalogue(text: str, table: pl.DataFrame | None = None, source: str = "") -> Catalogue:
    """Build a catalogue from TOML text; errors name the file, group and offending key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeatureError(f"catalogue {source!r} is not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise FeatureError(f"catalogue {source!r}: unknown key {unknown[0]!r}")
    groups = doc.get("features", [])
    if not isinstance(groups, list) or not groups:
        raise FeatureError(f"catalogue {source!r}: needs at least one [[features]] group")
    specs: list[FeatureSpec] = []
    for number, group in enumerate(groups, start=1):
        specs.extend(_expand(group, f"{source} [[features]] #{number}"))
    specs.extend(_extras(doc.get("extras", "all"), table, source))
    return Catalogue(
        name=str(doc.get("name", Path(source).stem or "catalogue")),
        specs=tuple(specs),
        retention=parse_duration(str(doc.get("retention", DEFAULT_RETENTION))),
        label_horizon=parse_duration(str(doc.get("label_horizon", DEFAULT_LABEL_HORIZON))),
    )


def _expand(group: object, where: str) -> list[FeatureSpec]:
    if not isinstance(group, dict):
        raise FeatureError(f"{where}: expected a table")
    kind = group.get("kind")
    if kind not in _FIELDS:
        raise FeatureError(f"{where}: kind {kind!r} is not one of {', '.join(_FIELDS)}")
    allowed = _FIELDS[kind]
    for key in group:
        if key != "kind" and key not in allowed:
            raise FeatureError(f"{where}: key {key!r} is not allowed for kind {kind!r}")
    for key in _REQUIRED[kind]:
        if key not in group:
            raise FeatureError(f"{where}: kind {kind!r} needs key {key!r}")
    values: dict[str, list[Any]] = {}
    for key, choices in allowed.items():
        raw = group.get(key, list(choices or ()) if kind == "calendar" else None)
        if raw is None:
            continue
        items = raw if isinstance(raw, list) else [raw]
        for item in items:
            if choices is not None and item not in choices:
                raise FeatureError(
                    f"{where}: {key} {item!r} is not one of {', '.join(map(str, choices))}"
                )
        values[key] = items
    specs = []
    for combo in itertools.product(*values.values()):
        spec = _spec_from_dict({"kind": kind, **dict(zip(values, combo, strict=True))}, where)
        if spec.kind == "distinct" and spec.of in spec.key.split("_"):
            raise FeatureError(f"{where}: distinct {spec.of!r} by {spec.key!r} is always 1")
        specs.append(spec)
    return specs


def _spec_from_dict(data: dict[str, Any], where: str = "catalogue") -> FeatureSpec:
    kind = str(data["kind"])
    try:
        window = Window.of(str(data["window"])) if "window" in data else None
    except FeatureError as exc:
        raise FeatureError(f"{where}: {exc}") from exc
    n = data.get("n", 0)
    if kind == "relative" and (not isinstance(n, int) or not 2 <= n <= 1000):
        raise FeatureError(f"{where}: n {n!r} must be an integer from 2 to 1000")
    categorical = bool(data.get("categorical", False))
    if kind == "attribute":
        categorical = ATTRIBUTES[str(data["agg"])]
    clock = str(data.get("clock", ""))
    return FeatureSpec(
        kind=kind,
        key=str(data.get("key", "")),
        agg=str(data.get("agg", "")),
        window=window,
        of=str(data.get("of", "")),
        n=int(n),
        categorical=categorical,
        clock="" if clock == "arrival" else clock,
        to=str(data.get("to", "")),
    )


def _extras(choice: object, table: pl.DataFrame | None, source: str) -> list[FeatureSpec]:
    if choice == "none" or table is None:
        return []
    available = extra_columns(table)
    if choice == "all":
        names = available
    elif isinstance(choice, list):
        names = [str(item) for item in choice]
        missing = [item for item in names if item not in available]
        if missing:
            raise FeatureError(f"catalogue {source!r}: extra column {missing[0]!r} is not in data")
    else:
        raise FeatureError(f"catalogue {source!r}: extras {choice!r}: 'all', 'none' or a list")
    specs = []
    for column in names:
        dtype = table.schema[column]
        if dtype == pl.String:
            specs.append(FeatureSpec(kind="extra", of=column, categorical=True))
        elif dtype.is_numeric() or dtype == pl.Boolean:
            specs.append(FeatureSpec(kind="extra", of=column))
        else:
            raise FeatureError(f"extra column {column!r} has type {dtype}: not numeric or string")
    return specs
