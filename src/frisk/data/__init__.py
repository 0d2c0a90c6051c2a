"""Event data: the canonical table, import with column mappings, and the payment simulator."""

from __future__ import annotations

from frisk.data.table import (
    EVENT_DTYPES,
    conform,
    extra_columns,
    labels_of,
    read_table,
    write_table,
)

__all__ = ["EVENT_DTYPES", "conform", "extra_columns", "labels_of", "read_table", "write_table"]
