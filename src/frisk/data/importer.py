"""Import event files (CSV, Parquet, JSON Lines) into the canonical event table.

``read_events`` reads a file through a column mapping, checks every row at columnar speed and
returns the table with a report of what was read, kept and dropped; ``load_events`` is what every
command taking ``--events``/``--mapping`` calls. Nothing is dropped silently: invalid rows refuse
the file unless the caller asks to skip them, and duplicate transaction ids refuse it unless the
mapping says how to resolve them. Either way the report counts what went.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import polars as pl

from frisk.data.conversion import convert
from frisk.data.mapping import BoundMapping, Mapping
from frisk.data.table import EVENT_DTYPES, conform, read_table
from frisk.errors import DataFormatError, InvalidRowsError, MappingError, RowProblem
from frisk.schema import SCENARIO_COLUMN

__all__ = [
    "ImportReport",
    "ImportResult",
    "csv_separator",
    "file_columns",
    "load_events",
    "read_events",
    "read_raw",
]

FileFormat = Literal["csv", "parquet", "jsonl"]

# How many problems and duplicate examples a report keeps: enough to fix a file, not a copy of it.
MAX_PROBLEMS: Final = 20
MAX_EXAMPLES: Final = 5

_SUFFIXES: Final[dict[str, FileFormat]] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_ROW: Final = "__frisk_row"
_SEPARATORS: Final = (",", ";", "\t", "|")
_SNIFF_BYTES: Final = 1 << 16  # of the header line
_GZIP_MAGIC: Final = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import read, kept and dropped; ``rows_read`` = kept + invalid + duplicates."""

    source: str
    format: FileFormat
    rows_read: int
    rows_kept: int
    invalid_rows: int
    problems: tuple[RowProblem, ...]
    duplicate_ids: int
    duplicate_rows_dropped: int
    duplicate_examples: tuple[str, ...]
    unused_columns: tuple[str, ...]
    derived_ids: bool


@dataclass(frozen=True, slots=True)
class ImportResult:
    table: pl.DataFrame
    report: ImportReport


def read_events(
    path: Path, mapping: Mapping | None = None, *, skip_invalid: bool = False
) -> ImportResult:
    """Read ``path`` through ``mapping`` (none: the file is canonical) into the event table.

    Raises ``DataFormatError`` for a file that cannot be read or has no rows, ``MappingError``
    for a mapping that does not fit the file or duplicate ids it cannot resolve, and
    ``InvalidRowsError`` (row, column, reason) for bad rows unless ``skip_invalid``.
    """
    mapping = mapping or Mapping()
    fmt = file_format(path)
    frame = _scan(path, fmt)
    try:
        available = frame.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, fmt, exc) from exc
    bound = mapping.bind(available)
    try:
        raw = frame.select(bound.needed).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, fmt, exc) from exc
    if raw.height == 0:
        raise DataFormatError(f"{str(path)!r}: no data rows")

    converted = convert(raw, bound, mapping)
    table = converted.frame.with_columns(pl.int_range(1, raw.height + 1).alias(_ROW))
    ids = (
        converted.frame.get_column("transaction_id")
        if "transaction_id" in converted.frame.columns
        else None
    )
    invalid, problems = _problems(converted.problems, raw.height, available, ids)
    if invalid and not skip_invalid:
        raise InvalidRowsError(list(problems), invalid, source=str(path))
    if invalid:
        bad = pl.any_horizontal([r.is_not_null() for _, r in converted.problems])
        table = table.filter(~pl.select(bad).to_series())

    table, duplicates = _resolve_duplicates(table, mapping, bound, str(path))
    report = ImportReport(
        source=str(path),
        format=fmt,
        rows_read=raw.height,
        rows_kept=table.height,
        invalid_rows=invalid,
        problems=problems,
        duplicate_ids=duplicates.ids,
        duplicate_rows_dropped=duplicates.dropped,
        duplicate_examples=duplicates.examples,
        unused_columns=bound.unused,
        derived_ids=mapping.derive_id,
    )
    return ImportResult(conform(table.drop(_ROW)), report)


def load_events(events: Path, mapping: Path | None, skip_invalid: bool) -> pl.DataFrame:
    """The event table for a command's ``--events``/``--mapping``/``--skip-invalid``.

    A Parquet file already in the canonical types (as ``frisk import`` and ``frisk simulate``
    write it) is read directly, trusted as checked when it was written; anything else goes
    through ``read_events``.
    """
    if mapping is None and file_format(events) == "parquet" and _is_canonical_parquet(events):
        return read_table(events)
    loaded = Mapping.load(mapping) if mapping is not None else None
    return read_events(events, loaded, skip_invalid=skip_invalid).table


def file_columns(path: Path) -> list[str]:
    """The columns of ``path`` as ``read_events`` sees them, without reading its rows."""
    fmt = file_format(path)
    frame = _scan(path, fmt)
    try:
        return frame.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, fmt, exc) from exc


def read_raw(path: Path) -> pl.DataFrame:
    """Every row of ``path`` as ``read_events`` reads it before mapping: CSV cells as text, JSON
    Lines typed from all their rows. For files that are not event tables (labels)."""
    fmt = file_format(path)
    frame = _scan(path, fmt)
    try:
        return frame.collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, fmt, exc) from exc


def file_format(path: Path) -> FileFormat:
    """The format of ``path`` by its extension; raises ``DataFormatError`` for others."""
    name = path.name.lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise DataFormatError(f"{str(path)!r}: unknown file type (expected {', '.join(_SUFFIXES)})")


def csv_separator(path: Path) -> str:
    """The separator of a CSV file: of ``,``, ``;``, tab and ``|``, the one its header line
    holds most often (outside quotes); ``,`` when it holds none. Spreadsheets in much of Europe
    export with ``;``, and other tools with tabs."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
    with gzip.open(path, "rb") if compressed else path.open("rb") as handle:
        header = handle.readline(_SNIFF_BYTES).decode("utf-8", "replace")
    outside = "".join(part for i, part in enumerate(header.split('"')) if i % 2 == 0)
    counts = {sep: outside.count(sep) for sep in _SEPARATORS}
    best = max(_SEPARATORS, key=lambda sep: counts[sep])  # ties: the first, ","
    return best if counts[best] else ","


# -- reading -----------------------------------------------------------------------------------


def _scan(path: Path, fmt: FileFormat) -> pl.LazyFrame:
    if not path.is_file():
        raise DataFormatError(f"{str(path)!r}: no such file")
    if path.stat().st_size == 0:
        raise DataFormatError(f"{str(path)!r}: empty file")
    try:
        if fmt == "csv":
            # Every cell as text: ids keep their leading zeros, and a bad number becomes a row
            # problem with its row and value instead of a failed read.
            return pl.scan_csv(path, infer_schema=False, separator=csv_separator(path))
        if fmt == "jsonl":
            return pl.scan_ndjson(path, infer_schema_length=None)
        return pl.scan_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, fmt, exc) from exc


def _unreadable(path: Path, fmt: FileFormat, exc: BaseException) -> DataFormatError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataFormatError(f"{str(path)!r}: not a readable {fmt} file ({first})")


def _is_canonical_parquet(path: Path) -> bool:
    try:
        schema = pl.read_parquet_schema(path)
    except (pl.exceptions.PolarsError, OSError):
        return False
    # Every core and label column in its canonical type (``scenario`` only if present).
    return all(
        schema.get(name, dtype if name == SCENARIO_COLUMN else None) == dtype
        for name, dtype in EVENT_DTYPES.items()
    )


# -- checking ----------------------------------------------------------------------------------


def _problems(
    reasons: list[tuple[str, pl.Series]],
    height: int,
    available: list[str],
    ids: pl.Series | None = None,
) -> tuple[int, tuple[RowProblem, ...]]:
    """Count the invalid rows and keep the first problems, by row then the file's column order."""
    if not reasons:
        return 0, ()
    masks = pl.DataFrame([r.is_not_null().alias(str(i)) for i, (_, r) in enumerate(reasons)])
    invalid = int(masks.select(pl.any_horizontal(pl.all()).sum()).item())
    found: list[tuple[int, int, RowProblem]] = []
    rows = pl.int_range(1, height + 1, eager=True)
    position = {name: i for i, name in enumerate(available)}
    for column, series in reasons:
        order = position.get(column.split("+")[0], len(position))
        named = ids.cast(pl.String) if ids is not None else pl.repeat(None, height, dtype=pl.String)
        hits = (
            pl.DataFrame({"row": rows, "reason": series, "id": named})
            .filter(pl.col("reason").is_not_null())
            .head(MAX_PROBLEMS)
        )
        for row, reason, txn in hits.iter_rows():
            found.append((row, order, RowProblem(row, column, reason, txn)))
    found.sort(key=lambda item: (item[0], item[1]))
    return invalid, tuple(p for _, _, p in found[:MAX_PROBLEMS])


@dataclass(frozen=True, slots=True)
class _Duplicates:
    ids: int = 0
    dropped: int = 0
    examples: tuple[str, ...] = ()


def _resolve_duplicates(
    table: pl.DataFrame, mapping: Mapping, bound: BoundMapping, source: str
) -> tuple[pl.DataFrame, _Duplicates]:
    ids = table.get_column("transaction_id")
    repeated = ids.is_duplicated()
    if not repeated.any():
        return table, _Duplicates()
    rows = table.filter(repeated).group_by("transaction_id", maintain_order=True).agg(pl.col(_ROW))
    examples = tuple(
        f"{tid!r} (rows {', '.join(str(r) for r in found[:3])}{', ...' if len(found) > 3 else ''})"
        for tid, found in rows.head(MAX_EXAMPLES).iter_rows()
    )
    count = rows.height
    if mapping.duplicates == "error":
        column = bound.source_of("transaction_id")
        raise MappingError(
            f"{source}: {count} transaction id(s) from {column!r} occur more than once, e.g. "
            f"{'; '.join(examples)}. Build the id from several columns (transaction_id = "
            "[\"ref\", \"account\"]), or set options.duplicates = 'keep_first' or 'drop_all'"
        )
    keep = ids.is_first_distinct() if mapping.duplicates == "keep_first" else ~repeated
    kept = table.filter(keep)
    return kept, _Duplicates(count, table.height - kept.height, examples)
