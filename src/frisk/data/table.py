"""The canonical event table: one row per transaction, time-ordered, typed columns.

Every producer (import, simulator) hands this table to every consumer (features, training, scoring).
Columns: the core transaction fields of ``frisk.schema``, the optional outcome columns ``label``
(1 fraud, 0 legit, null unknown), ``label_timestamp`` and ``label_source``, the optional
ground-truth ``scenario``, and any number of extra attributes (numeric or string columns under
their own names).
Rows are sorted by ``timestamp``; ties keep their input order, which is the order events are
considered to have happened in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from frisk.errors import DataFormatError
from frisk.schema import (
    CORE_COLUMNS,
    KNOWN_COLUMNS,
    LABEL_COLUMNS,
    REQUIRED_COLUMNS,
    SCENARIO_COLUMN,
)

__all__ = [
    "EVENT_DTYPES",
    "TIMESTAMP_DTYPE",
    "conform",
    "extra_columns",
    "labels_of",
    "read_table",
    "transactions_of",
    "write_table",
]

TIMESTAMP_DTYPE: Final = pl.Datetime("us", "UTC")

EVENT_DTYPES: Final[dict[str, pl.DataType]] = {
    "transaction_id": pl.String(),
    "timestamp": TIMESTAMP_DTYPE,
    "amount": pl.Float64(),
    "currency": pl.String(),
    "payer_id": pl.String(),
    "payee_id": pl.String(),
    "device_id": pl.String(),
    "channel": pl.String(),
    "merchant_category": pl.String(),
    "payer_country": pl.String(),
    "payee_country": pl.String(),
    "label": pl.Int8(),
    "label_timestamp": TIMESTAMP_DTYPE,
    "label_source": pl.String(),
    SCENARIO_COLUMN: pl.String(),
}


def conform(frame: pl.DataFrame, *, sort: bool = True) -> pl.DataFrame:
    """Return ``frame`` as a canonical event table: known columns typed and ordered, extras last.

    Missing optional columns are added as nulls so consumers can rely on every core and label
    column being present. Raises ``DataFormatError`` naming a missing required column or a column
    whose type cannot be used.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(f"event table lacks required column(s): {', '.join(missing)}")
    columns: list[pl.Series] = []
    for name, dtype in EVENT_DTYPES.items():
        if name in frame.columns:
            series = frame.get_column(name)
            if series.dtype != dtype:
                try:
                    series = series.cast(dtype)
                except pl.exceptions.PolarsError as exc:
                    raise DataFormatError(
                        f"column {name!r} has type {series.dtype}, expected {dtype}"
                    ) from exc
            columns.append(series)
        elif name in CORE_COLUMNS or name in LABEL_COLUMNS:
            columns.append(pl.Series(name, [None] * frame.height, dtype=dtype))
    for name in extra_columns(frame):
        series = frame.get_column(name)
        if series.dtype.is_integer() or series.dtype.is_float() or series.dtype == pl.Boolean:
            series = series.cast(pl.Float64)
        elif series.dtype != pl.String:
            series = series.cast(pl.String)
        columns.append(series)
    table = pl.DataFrame(columns)
    if sort and not table.get_column("timestamp").is_sorted():
        table = table.sort("timestamp", maintain_order=True)
    return table


def extra_columns(frame: pl.DataFrame) -> list[str]:
    """Names of the user's extra attribute columns, in table order."""
    return [c for c in frame.columns if c not in KNOWN_COLUMNS and not c.startswith("_")]


def labels_of(frame: pl.DataFrame) -> pl.DataFrame:
    """The label events carried by an event table: one row per labelled transaction.

    Columns ``transaction_id``, ``label``, ``label_timestamp``, ``label_source``, sorted by
    arrival time (ties in table order).
    """
    if "label" not in frame.columns:
        return pl.DataFrame(
            schema={
                "transaction_id": pl.String(),
                "label": pl.Int8(),
                "label_timestamp": TIMESTAMP_DTYPE,
                "label_source": pl.String(),
            }
        )
    labelled = frame.filter(
        pl.col("label").is_not_null() & pl.col("label_timestamp").is_not_null()
    ).select("transaction_id", "label", "label_timestamp", "label_source")
    return labelled.sort("label_timestamp", maintain_order=True)


def read_table(path: Path) -> pl.DataFrame:
    """Read a canonical table written by ``write_table`` (or any Parquet already canonical)."""
    if not path.is_file():
        raise DataFormatError(f"{str(path)!r}: no such file")
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataFormatError(f"{str(path)!r}: not a readable Parquet file ({exc})") from exc
    return conform(frame)


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write a canonical table as Parquet; the same table always gives the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="zstd", statistics=True)


def transactions_of(table: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """Each row as the JSON body of POST /v1/score (labels and the scenario left out)."""
    extras = extra_columns(table)
    core: list[str] = [c for c in CORE_COLUMNS if c in table.columns]
    for row in table.select(*core, *extras).iter_rows(named=True):
        body: dict[str, Any] = {k: _json_value(row[k]) for k in core if row[k] is not None}
        extra = {k: _json_value(row[k]) for k in extras if _present(row[k])}
        if extra:
            body["extra"] = extra
        yield body


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value
