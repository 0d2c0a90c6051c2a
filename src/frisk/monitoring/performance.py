"""Live performance: how the models did on the decisions in the ledger, by the labels so far.

Per day (the transaction's own day, UTC) and model version, from the ledger's ``decisions`` (and
``shadow_decisions`` for a challenger in shadow) joined with ``labels``:

    decisions      decided that day
    alerts         of which review or block
    alert_rate     alerts / decisions, against the alert budget
    labelled       of which a label has arrived (fraud or legit)
    fraud          of which labelled fraud
    alerted_fraud  labelled fraud that was alerted
    precision      alerted_fraud / alerts: an alert without a fraud label counts against it, so
                   precision rises as late labels (chargebacks) arrive; None without alerts
    recall         alerted_fraud / fraud; None without labelled fraud
    fraud_amount   sum of labelled fraud amounts; amount_caught: of which alerted

Amounts are summed as recorded, whatever their currency. Everything is one ``GROUP BY`` per table
in the database: nothing reads the decisions row by row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

from frisk.store.ledger import DayCounts, Ledger

__all__ = ["Performance", "PerformanceRow", "Role", "live_performance"]

Role = Literal["production", "shadow", "retired"]


@dataclass(frozen=True, slots=True)
class PerformanceRow:
    """Counts and rates of one model version over one day (``day`` None: its totals)."""

    day: date | None
    model_version: str
    role: Role
    decisions: int
    alerts: int
    alert_rate: float | None
    labelled: int
    fraud: int
    alerted_fraud: int
    precision: float | None
    recall: float | None
    fraud_amount: float
    amount_caught: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["day"] = None if self.day is None else self.day.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class Performance:
    """Live performance over ``[start, end]`` (days, inclusive): per day and per model."""

    budget: float
    start: date | None
    end: date | None
    days: list[PerformanceRow]  # by day, then role, then version
    models: list[PerformanceRow]  # totals per (version, role), production first

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "days": [r.to_dict() for r in self.days],
            "models": [{k: v for k, v in r.to_dict().items() if k != "day"} for r in self.models],
        }


def live_performance(
    ledger: Ledger,
    *,
    days: int,
    budget: float,
    production: str | None,
    shadow: Iterable[str] = (),
) -> Performance:
    """The last ``days`` days up to the newest decision's day, per day and model version.

    ``production`` is the version serving now: decisions by other versions are ``retired``.
    Rows of ``shadow_decisions`` are ``shadow`` (``shadow`` names versions to include even if
    they have not decided yet, so they appear with zero counts).
    """
    counts = ledger.monitoring.daily_counts(days)
    if counts is None:
        return Performance(budget, None, None, [], _totals([], production, shadow))
    first, last = counts.first, counts.last
    rows = [
        _row(r, "production" if r.model_version == production else "retired", budget)
        for r in counts.served
    ]
    rows += [_row(r, "shadow", budget) for r in counts.shadowed]
    rows.sort(key=lambda r: (r.day or first, _ROLE_ORDER[r.role], r.model_version))
    return Performance(budget, first, last, rows, _totals(rows, production, shadow))


_ROLE_ORDER: Mapping[str, int] = {"production": 0, "shadow": 1, "retired": 2}


def _row(counts: DayCounts, role: Role, budget: float) -> PerformanceRow:
    return _rates(
        counts.day,
        counts.model_version,
        role,
        counts.decisions,
        counts.alerts,
        counts.labelled,
        counts.fraud,
        counts.alerted_fraud,
        counts.fraud_amount,
        counts.amount_caught,
    )


def _rates(
    day: date | None,
    version: str,
    role: Role,
    decided: int,
    alerts: int,
    labelled: int,
    fraud: int,
    alerted_fraud: int,
    fraud_amount: float,
    amount_caught: float,
) -> PerformanceRow:
    return PerformanceRow(
        day=day,
        model_version=version,
        role=role,
        decisions=decided,
        alerts=alerts,
        alert_rate=alerts / decided if decided else None,
        labelled=labelled,
        fraud=fraud,
        alerted_fraud=alerted_fraud,
        precision=alerted_fraud / alerts if alerts else None,
        recall=alerted_fraud / fraud if fraud else None,
        fraud_amount=round(fraud_amount, 2),
        amount_caught=round(amount_caught, 2),
    )


def _totals(
    rows: list[PerformanceRow], production: str | None, shadow: Iterable[str]
) -> list[PerformanceRow]:
    sums: dict[tuple[str, Role], list[float]] = {
        key: [0.0] * 7 for key in _expected(production, shadow)
    }
    for r in rows:
        acc = sums.setdefault((r.model_version, r.role), [0.0] * 7)
        for i, v in enumerate(
            (
                r.decisions,
                r.alerts,
                r.labelled,
                r.fraud,
                r.alerted_fraud,
                r.fraud_amount,
                r.amount_caught,
            )
        ):
            acc[i] += v
    out = [
        _rates(
            None,
            version,
            role,
            int(acc[0]),
            int(acc[1]),
            int(acc[2]),
            int(acc[3]),
            int(acc[4]),
            acc[5],
            acc[6],
        )
        for (version, role), acc in sums.items()
    ]
    out.sort(key=lambda r: (_ROLE_ORDER[r.role], r.model_version))
    return out


def _expected(production: str | None, shadow: Iterable[str]) -> list[tuple[str, Role]]:
    keys: list[tuple[str, Role]] = []
    if production is not None:
        keys.append((production, "production"))
    keys += [(version, "shadow") for version in shadow]
    return keys
