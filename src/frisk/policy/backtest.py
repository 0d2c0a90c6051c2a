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

__all__ = ["BacktestReport", "backtest", "backtest_frame", "backtest_summary", "reports_table"]

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
        # Rows the model did not score (``history_frame(score_only=...)``) are never hits, so
        # whether they are alerted does not count.
        actions = current.decide_many(rows, now).get_column("action")
        alerted = actions.is_in(["review", "block"]).fill_null(False)
    else:
        alerted = pl.Series("alerted", [None] * rows.height, dtype=pl.Boolean)
    label = rows.get_column("label") if "label" in rows.columns else None
    base = pl.DataFrame(
        {
            "day": rows.get_column("timestamp").dt.date(),
            "amount": _cents(rows.get_column("amount")),
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
        _money(fraud).alias("fraud_amount"),
        new.sum().alias("new_hits"),
        (new & pl.col("fraud")).sum().alias("new_frauds"),
        _money(new & pl.col("fraud")).alias("new_fraud_amount"),
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


def backtest_summary(
    frame: pl.DataFrame, candidates: Policy, *, now: datetime, current: Policy | None = None
) -> dict[str, Any]:
    """The candidates together over ``frame``: a row is a hit when any of them matches it.

    ``{"days": [...], "totals": {...}, "rules": [...]}`` (the API's backtest answer); "added"
    counts hits that ``current`` (lists, rules and the model's actions) does not alert on.
    ``frame`` needs ``timestamp``, ``amount``, ``label`` and what the rules read.
    """
    matched = candidates.match_many(frame, now)
    if current is not None:
        alerted = current.decide_many(frame, now).get_column("action").is_in(["review", "block"])
    else:
        alerted = pl.repeat(False, frame.height, eager=True)
    label = frame.get_column("label")
    base = pl.DataFrame(
        {
            "day": frame.get_column("timestamp").dt.date(),
            "amount": _cents(frame.get_column("amount")),
            "fraud": (label == 1).fill_null(False),
            "labelled": label.is_not_null(),
            "alerted": alerted.fill_null(False),
        }
    )
    flags = (
        matched.with_columns(pl.any_horizontal(pl.all()).alias("_any")) if matched.width else None
    )
    hit_any = (
        flags.get_column("_any")
        if flags is not None
        else pl.repeat(False, frame.height, eager=True)
    )
    day_sums = _sums(pl.col("hit"))
    with_hit = base.with_columns(hit=hit_any.fill_null(False))
    days = with_hit.group_by("day").agg(day_sums).sort("day")
    totals = with_hit.select([*day_sums, *_total_sums(pl.col("hit"))]).with_columns(
        _ratio("fraud_hits", "labelled_hits").alias("precision")
    )
    total = totals.row(0, named=True)
    total["fraud_amount_caught"] = total.pop("fraud_amount_hit")
    total.pop("amount_hit")
    rules = []
    for c in candidates.rules:
        one = base.with_columns(hit=matched.get_column(c.rule.name).fill_null(False))
        row = one.select([*_sums(pl.col("hit")), *_total_sums(pl.col("hit"))]).row(0, named=True)
        rules.append(
            {
                "name": c.rule.name,
                "expression": c.rule.expression,
                "hits": row["hits"],
                "fraud_hits": row["fraud_hits"],
                "labelled_hits": row["labelled_hits"],
                "precision": row["fraud_hits"] / row["labelled_hits"]
                if row["labelled_hits"]
                else None,
                "fraud_amount_caught": row["fraud_amount_hit"],
                "added_hits": row["added_hits"],
            }
        )
    return {"days": days.to_dicts(), "totals": total, "rules": rules}


def _sums(hit: pl.Expr) -> list[pl.Expr]:
    fraud, added = hit & pl.col("fraud"), hit & ~pl.col("alerted")
    return [
        pl.len().alias("transactions"),
        hit.sum().alias("hits"),
        fraud.sum().alias("fraud_hits"),
        _money(hit).alias("amount_hit"),
        _money(fraud).alias("fraud_amount_hit"),
        added.sum().alias("added_hits"),
        (added & pl.col("fraud")).sum().alias("added_fraud"),
    ]


def _total_sums(hit: pl.Expr) -> list[pl.Expr]:
    added_fraud = hit & ~pl.col("alerted") & pl.col("fraud")
    return [
        (hit & pl.col("labelled")).sum().alias("labelled_hits"),
        _money(pl.col("fraud")).alias("fraud_amount_total"),
        _money(added_fraud).alias("added_fraud_amount"),
    ]


def _cents(amounts: pl.Series) -> pl.Series:
    """Amounts as integer cents, as the feature engine counts them: sums of them are exact, so
    a report does not change in its last digit with the order Polars happens to sum in."""
    return (amounts.cast(pl.Float64) * 100.0).round().cast(pl.Int64)


def _money(rows: pl.Expr) -> pl.Expr:
    """The amount of the ``rows`` (a boolean expression), in currency units."""
    return pl.col("amount").filter(rows).sum() / 100.0


def _ratio(numerator: str, denominator: str) -> pl.Expr:
    return (
        pl.when(pl.col(denominator) > 0)
        .then(pl.col(numerator) / pl.col(denominator))
        .otherwise(None)
    )
