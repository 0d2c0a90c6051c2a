"""Backtest rules over an event table: offline features, the model's verdicts, then ``backtest``.

This is what ``frisk rules backtest`` (and later ``POST /v1/rules/backtest``) calls. Features
are computed over the whole table (each event sees its full history, point in time), the window
picks the rows to report on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import polars as pl

from frisk.policy.backtest import BacktestReport, backtest, backtest_frame
from frisk.policy.decision import Policy
from frisk.policy.lists import ListSnapshot
from frisk.policy.rules import Rule
from frisk.policy.variables import MODEL_VARIABLES, rule_variables, variables_of_frame

if TYPE_CHECKING:
    from frisk.features import Catalogue
    from frisk.models import FraudModel

__all__ = ["backtest_events", "history_frame", "recorded_frame"]


def history_frame(
    table: pl.DataFrame,
    catalogue: Catalogue,
    model: FraudModel | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    score_only: Callable[[pl.DataFrame], pl.Series] | None = None,
) -> pl.DataFrame:
    """Events in ``[start, end)`` with offline features (``catalogue``'s and the model's) and
    the model's verdicts.

    Features are point in time, so events from ``end`` on change no earlier event's features
    (nor do their labels, which arrive later still): they are dropped before computing. Events
    before ``start`` are history for the window's features but are not scored.
    ``score_only(frame)``, given the window's events and features, marks the rows the model
    must score; the others get null verdicts (scoring is most of a backtest's time).
    """
    from frisk.features import compute_offline

    if end is not None:
        table = table.filter(pl.col("timestamp") < end)
    features = compute_offline(table, catalogue)
    window = None if start is None else table.get_column("timestamp") >= start
    model_features = features
    if model is not None:
        from frisk.models.pipeline import model_catalogue

        wanted = model_catalogue(model)
        if wanted.version != catalogue.version:
            model_features = compute_offline(table, wanted)
            more = [c for c in model_features.columns if c not in features.columns]
            features = pl.concat([features, model_features.select(more)], how="horizontal")
    if window is not None:
        table, features = table.filter(window), features.filter(window)
        model_features = model_features.filter(window)
    if model is None:
        return backtest_frame(table, features)
    if score_only is None:
        return backtest_frame(table, features, model.assess_many(model_features))
    rows = score_only(backtest_frame(table, features)).fill_null(False).arg_true()
    scored = pl.DataFrame({"_row": rows}).hstack(model.assess_many(model_features[rows]))
    every = pl.DataFrame({"_row": pl.Series(range(table.height), dtype=rows.dtype)})
    assessed = every.join(scored, on="_row", how="left", maintain_order="left").drop("_row")
    return backtest_frame(table, features, assessed)


def backtest_events(
    table: pl.DataFrame,
    rules: Sequence[Rule],
    *,
    catalogue: Catalogue,
    now: datetime,
    model: FraudModel | None = None,
    lists: ListSnapshot | None = None,
    current: Sequence[Rule] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[BacktestReport]:
    """Backtest ``rules`` on ``table`` in ``[start, end)``, against ``current`` rules and the model.

    The candidates are checked before any feature is computed: a typo fails in milliseconds.
    A current rule with a candidate's name is left out of the comparison (the candidate
    replaces it).
    """
    from frisk.data.table import extra_columns

    extras = variables_of_frame(table.select(extra_columns(table)))
    variables = rule_variables(catalogue, extras=extras, model=model is not None)
    candidates = Policy(rules, variables, lists)
    names = {r.name for r in rules}
    baseline = Policy([r for r in current if r.name not in names], variables, lists)
    # Without a candidate reading the model's verdict, only the rows some candidate hits need
    # one (for what the candidates add over the model): the model scores just those.
    reads = {name for c in candidates.rules for name in c.reads}
    hits_only = None
    if model is not None and not reads & set(MODEL_VARIABLES):
        hits_only = partial(_any_match, candidates, now)
    frame = history_frame(table, catalogue, model, start=start, end=end, score_only=hits_only)
    compare = (
        baseline if (model is not None or baseline.rules or baseline.lists.definitions) else None
    )
    return backtest(frame, candidates, now=now, start=start, end=end, current=compare)


def _any_match(policy: Policy, now: datetime, frame: pl.DataFrame) -> pl.Series:
    matched = policy.match_many(frame, now)
    if not matched.width:
        return pl.repeat(False, frame.height, eager=True)
    return matched.select(pl.any_horizontal(pl.all())).to_series()


_LABELS = {"fraud": 1, "legit": 0}


def recorded_frame(rows: Iterable[Mapping[str, Any]], variables: Mapping[str, str]) -> pl.DataFrame:
    """Recorded decisions as a backtest frame: what each rule read when it was decided.

    ``rows`` carry a decision's ``transaction`` (JSON, extras under ``extra``), ``features``,
    ``score``, ``risk_score``, ``tier``, ``action``, ``policy``, ``event_time`` and ``label``
    (``fraud``/``legit``/None), as ``Ledger.decisions_with_labels`` reads them. The
    variables are laid out as the live path sees them: features, then the transaction's fields
    and extra attributes over them. Every variable gets a column of its type, null where a
    decision did not record it (a missing value, as live).
    """
    flat: list[dict[str, Any]] = []
    for row in rows:
        txn = dict(row["transaction"])
        extra = txn.pop("extra", None) or {}
        recorded: Mapping[str, Any] = row.get("policy") or {}
        item: dict[str, Any] = dict(row["features"])
        item.update(txn)
        item.update(extra)
        item.update(
            timestamp=row["event_time"],
            score=row["score"],
            risk_score=float(row["risk_score"]),
            tier=row["tier"],
            risk_tier=row["tier"],
            model_action=recorded.get("model_action", row["action"]),
            action=row["action"],
            label=_LABELS.get(row.get("label") or ""),
        )
        flat.append(item)
    types: dict[str, pl.DataType] = {
        "timestamp": pl.Datetime("us", "UTC"),
        "label": pl.Int8(),
        "action": pl.String(),
    }
    for name, kind in variables.items():
        types[name] = pl.String() if kind == "string" else pl.Float64()
    columns: dict[str, list[Any]] = {name: [] for name in types}
    for item in flat:
        for name, values in columns.items():
            value = item.get(name)
            if types[name] == pl.Float64 and isinstance(value, str):
                value = None  # a string where a number belongs reads as missing, as live
            elif types[name] == pl.String and value is not None and not isinstance(value, str):
                value = None
            values.append(value)
    return pl.DataFrame(columns, schema=types)
