"""The names a rule may read, and their types: transaction fields, features, the model's output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

from frisk.policy.nodes import Type
from frisk.schema import CORE_COLUMNS

if TYPE_CHECKING:
    import polars as pl

    from frisk.features import Catalogue

__all__ = ["MODEL_VARIABLES", "TRANSACTION_VARIABLES", "rule_variables", "variables_of_frame"]

TRANSACTION_VARIABLES: Final[dict[str, Type]] = {
    name: ("number" if name == "amount" else "string")
    for name in CORE_COLUMNS
    if name != "timestamp"
}
# What the model said, available to rules in the live path (and to backtests given --model).
MODEL_VARIABLES: Final[dict[str, Type]] = {
    "score": "number",  # calibrated probability of fraud, 0..1
    "risk_score": "number",  # 0..100
    "tier": "string",  # low / medium / high / critical
    "risk_tier": "string",  # the same as tier, by the name the API uses
    "model_action": "string",  # allow / review / block from the model's thresholds
}


def rule_variables(
    catalogue: Catalogue | None = None,
    *,
    extras: Mapping[str, Type] | None = None,
    model: bool = True,
) -> dict[str, Type]:
    """Every name a rule may read: fields, extra attributes, the catalogue's features, the model's.

    Categorical features are strings, all others numbers (NaN is a missing value).
    """
    names: dict[str, Type] = dict(TRANSACTION_VARIABLES)
    names.update(extras or {})
    if catalogue is not None:
        categorical = set(catalogue.categorical)
        for name in catalogue.names:
            names[name] = "string" if name in categorical else "number"
    if model:
        names.update(MODEL_VARIABLES)
    return names


def variables_of_frame(frame: pl.DataFrame, skip: Iterable[str] = ()) -> dict[str, Type]:
    """Rule variable types of a frame's columns: strings as strings, numbers as numbers."""
    import polars as pl

    skipped = set(skip)
    out: dict[str, Type] = {}
    for name, dtype in frame.schema.items():
        if name in skipped or name.startswith("_"):
            continue
        if dtype == pl.String or dtype == pl.Categorical:
            out[name] = "string"
        elif dtype.is_numeric() or dtype == pl.Boolean:
            out[name] = "number"
    return out
