"""Numbers written as text: ``1234.56`` by default, ``1.234,56`` with ``options.decimal_comma``.

Spreadsheets in much of Europe export decimal commas (and dots between thousands). With the
option, a cell must be written that way: digits grouped by dots in threes, or not at all, and an
optional comma before the decimals; anything else (``12.5`` included: its dot would be a thousands
separator in the wrong place) is not a number, and the row is reported as such.
"""

from __future__ import annotations

from typing import Final

import polars as pl

__all__ = ["as_number"]

_DECIMAL_COMMA: Final = r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$"


def as_number(value: pl.Expr, *, decimal_comma: bool = False) -> pl.Expr:
    """``value`` as Float64, null where it is not a number in the file's notation."""
    if not decimal_comma:
        return value.cast(pl.Float64, strict=False)
    text = value.cast(pl.String).str.strip_chars()
    plain = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return pl.when(text.str.contains(_DECIMAL_COMMA)).then(plain).cast(pl.Float64, strict=False)
