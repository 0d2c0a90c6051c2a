"""Categorical vocabularies: string feature values to the integer codes LightGBM splits on.

Code 0 is reserved for "other": values seen fewer than ``min_count`` times in training and values
never seen at all share it, so the model learns how to treat a rare value and applies the same to a
new one at serve time. Missing values (``None``) become ``nan``, which LightGBM treats as missing.
Known values get codes 1..k by descending frequency, ties by value, so the same data always gives
the same codes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import polars as pl

from frisk.errors import ArtifactError, ModelError

__all__ = ["OTHER_CODE", "CategoryEncoder"]

OTHER_CODE: Final = 0


class CategoryEncoder:
    """Per-column vocabularies learnt from training rows.

    ``min_count`` drops values too rare to learn from; ``max_categories`` caps a vocabulary, since
    LightGBM's categorical splits get slow and overfit with thousands of levels.
    """

    def __init__(self, min_count: int = 20, max_categories: int = 256) -> None:
        self.min_count = min_count
        self.max_categories = max_categories

    def fit(self, frame: pl.DataFrame, columns: Sequence[str]) -> CategoryEncoder:
        """Learn one vocabulary per column of ``frame``."""
        vocabularies: dict[str, dict[str, int]] = {}
        for name in columns:
            if name not in frame.columns:
                raise ModelError(f"categorical feature {name!r} is missing from the feature frame")
            counts = (
                frame.get_column(name)
                .cast(pl.String)
                .drop_nulls()
                .value_counts(name="count")
                .filter(pl.col("count") >= self.min_count)
                .sort(["count", name], descending=[True, False])
                .head(self.max_categories)
            )
            values = counts.get_column(name).to_list()
            vocabularies[name] = {str(v): i + 1 for i, v in enumerate(values)}
        self.vocabularies_ = vocabularies
        return self

    @property
    def columns(self) -> list[str]:
        return list(self.vocabularies_)

    def expression(self, name: str) -> pl.Expr:
        """Codes of column ``name`` as floats (the booster reads one matrix); nan when null."""
        column = pl.col(name)
        code = column.cast(pl.String).replace_strict(
            self.vocabularies_[name], default=OTHER_CODE, return_dtype=pl.Float64
        )
        # replace_strict sends null to the default as well; missing must stay missing.
        return pl.when(column.is_null()).then(math.nan).otherwise(code).alias(name)

    def code(self, value: object, name: str) -> float:
        """The code of one value: the scalar path ``score_one`` takes."""
        if value is None:
            return math.nan
        return float(self.vocabularies_[name].get(str(value), OTHER_CODE))

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_count": self.min_count,
            "max_categories": self.max_categories,
            "other_code": OTHER_CODE,
            "vocabularies": self.vocabularies_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryEncoder:
        """Rebuild a fitted encoder; raises ``ArtifactError`` naming what is malformed."""
        try:
            encoder = cls(int(data["min_count"]), int(data["max_categories"]))
            if int(data["other_code"]) != OTHER_CODE:
                raise ArtifactError(
                    f"encoding reserves code {data['other_code']} for unseen values; "
                    f"this Frisk uses {OTHER_CODE}"
                )
            vocabularies = {
                str(column): {str(value): int(code) for value, code in mapping.items()}
                for column, mapping in data["vocabularies"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"encoding is malformed: {exc!r}") from exc
        encoder.vocabularies_ = vocabularies
        return encoder
