"""Backtests: what candidate rules would have done on labelled history, per day, vectorised.

A rule's hits are the rows where its expression is true (whatever its action or mode), by the
same semantics as the live path. Per UTC day of the event: events, hits, labelled hits, frauds
among them, precision (frauds / labelled hits), fraud amount caught; and, given the current
policy (its lists, active rules and the model's actions), what the rule adds: hits the current
policy does not already alert on (review or block), frauds and fraud amount among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from frisk.policy.decision import Policy

__all__ = ["BacktestReport", "backtest", "backtest_frame", "reports_table"]

_ADDS = ("new_hits", "new_frauds", "new_fraud_amount")


@dataclass(frozen=True)
class BacktestReport:
    """One candidate rule's backtest: ``days`` has one row per day, ``totals`` sums them."""

    rule: str
    expression: str
    days: pl.DataFrame
    totals: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "expression": self.expression,
            "totals": self.totals,
            "days": [
                {k: (v.isoformat() if k == "day" else v) for k, v in row.items()}
                for row in self.days.iter_rows(named=True)
            ],
        }


def backtest_frame(
    table: pl.DataFrame, features: pl.DataFrame, assessed: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Events, their features and (optionally) the model's assessment side by side.

    Transaction columns win over features of the same name (``amount``, ``channel``: the same
    values); ``assessed`` is ``FraudModel.assess_many``'s frame (``risk_tier`` also as ``tier``,
    ``action`` as ``model_action``).
    """
    extra = features.select([c for c in features.columns if c not in table.columns])
    parts = [table, extra]
    if assessed is not None:
        parts.append(
            assessed.select(
                "score",
                pl.col("risk_score").cast(pl.Float64),
                pl.col("risk_tier").alias("tier"),
                "risk_tier",
                pl.col("action").alias("model_action"),
            )
        )
    return pl.concat(parts, how="horizontal")


def backtest(
    frame: pl.DataFrame,
    candidates: Policy,
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    current: Policy | None = None,
) -> list[BacktestReport]:
    """Backtest every rule of ``candidates`` over the rows of ``frame`` in ``[start, end)``.

    ``frame`` is ``backtest_frame``'s (``timestamp``, ``amount``, ``label`` and every column the
    rules read). Lists are taken as they are at ``now``. ``current`` is the policy already in
    force; without it the "adds" columns are null.
    """
    keep = pl.lit(True)
    if start is not None:
        keep = keep & (pl.col("timestamp") >= start)
    if end is not None:
        keep = keep & (pl.col("timestamp") < end)
    rows = frame.filter(keep)
    hits = candidates.match_many(rows, now)
    if current is not None:
        alerted = current.decide_many(rows, now).get_column("action").is_in(["review", "block"])
    else:
        alerted = pl.Series("alerted", [None] * rows.height, dtype=pl.Boolean)
    label = rows.get_column("label") if "label" in rows.columns else None
    base = pl.DataFrame(
        {
            "day": rows.get_column("timestamp").dt.date(),
            "amount": rows.get_column("amount"),
            "fraud": (label == 1)
            if label is not None
            else pl.repeat(False, rows.height, eager=True),
            "labelled": label.is_not_null()
            if label is not None
            else pl.repeat(False, rows.height, eager=True),
            "alerted": alerted,
        }
    )
    return [
        _report(c.rule.name, c.rule.expression, base.with_columns(hit=hits.get_column(c.rule.name)))
        for c in candidates.rules
    ]


def _report(name: str, expression: str, base: pl.DataFrame) -> BacktestReport:
    hit, fraud = pl.col("hit"), pl.col("fraud") & pl.col("hit")
    new = pl.col("hit") & ~pl.col("alerted")
    sums = [
        pl.len().alias("events"),
        hit.sum().alias("hits"),
        (hit & pl.col("labelled")).sum().alias("labelled_hits"),
        fraud.sum().alias("frauds"),
        pl.col("amount").filter(fraud).sum().alias("fraud_amount"),
        new.sum().alias("new_hits"),
        (new & pl.col("fraud")).sum().alias("new_frauds"),
        pl.col("amount").filter(new & pl.col("fraud")).sum().alias("new_fraud_amount"),
    ]
    days = base.group_by("day").agg(sums).sort("day").with_columns(_precision())
    totals_frame = base.select(sums).with_columns(_precision())
    totals = totals_frame.row(0, named=True)
    if base.get_column("alerted").null_count() == base.height:
        # Nothing to compare with: null, not a misleading "everything is new".
        days = days.with_columns([pl.lit(None, dtype=pl.Float64).alias(c) for c in _ADDS])
        totals.update(dict.fromkeys(_ADDS))
    return BacktestReport(name, expression, days, totals)


def _precision() -> pl.Expr:
    return (
        pl.when(pl.col("labelled_hits") > 0)
        .then(pl.col("frauds") / pl.col("labelled_hits"))
        .otherwise(None)
        .alias("precision")
    )


def reports_table(reports: Sequence[BacktestReport]) -> pl.DataFrame:
    """Totals of several reports, one row per rule."""
    return pl.DataFrame([{"rule": r.rule, **r.totals} for r in reports])
