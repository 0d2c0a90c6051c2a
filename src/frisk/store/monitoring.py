"""What monitoring reads from the ledger: the drift window, live performance, retraining history.

``SqlMonitoringReads`` is the ledger's ``monitoring`` (``Ledger.monitoring``); ``frisk.monitoring``
turns what it reads into PSI, precision and recall, and training tables, and never sees SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from frisk.store._driver_errors import translate_errors
from frisk.store.decision_rows import payload_columns, transaction_of
from frisk.store.feature_catalogues import recent_features
from frisk.store.records import JSON, DailyCounts, DayCounts, LabelRecord, WindowRow
from frisk.store.tables import decisions, labels, shadow_decisions

__all__ = ["SqlMonitoringReads"]

# Rows per keyset page of the transactions a retraining reads.
_PAGE = 10_000


class SqlMonitoringReads:
    """Monitoring's reads of an SQL ledger (see ``frisk.store.ledger.MonitoringReads``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def score_window(
        self,
        model_version: str,
        features: Sequence[tuple[str, bool]],
        *,
        last: int,
        since: datetime | None = None,
    ) -> list[WindowRow]:
        # Features are packed (``frisk.store.feature_catalogues``): decoded here, once per row.
        window = recent_features(self.engine, model_version, last=last, since=since)
        return [
            WindowRow(
                float(r.score),
                r.event_time,
                tuple(_value(r.features.get(name), categorical) for name, categorical in features),
            )
            for r in window
        ]

    def transactions(self, *, before: datetime | None = None) -> Iterator[JSON]:
        after: tuple[datetime, str] | None = None
        while True:  # keyset pages on (event_time, transaction_id): no long transaction
            query = sa.select(
                decisions.c.event_time, decisions.c.transaction_id, *payload_columns("transaction")
            )
            if before is not None:
                query = query.where(decisions.c.event_time < before)
            if after is not None:
                query = query.where(
                    sa.tuple_(decisions.c.event_time, decisions.c.transaction_id)
                    > sa.tuple_(*after)
                )
            query = query.order_by(decisions.c.event_time, decisions.c.transaction_id).limit(_PAGE)
            doing = "reading the ledger's transactions"
            with translate_errors(doing), self.engine.connect() as conn:
                page = conn.execute(query).all()
            for row in page:
                yield dict(transaction_of(row._mapping))
            if len(page) < _PAGE:
                return
            after = (page[-1].event_time, page[-1].transaction_id)

    def labels_known_before(self, cutoff: datetime) -> list[LabelRecord]:
        query = (
            sa.select(labels)
            .where(labels.c.label_timestamp < cutoff)
            .order_by(labels.c.transaction_id)
        )
        with translate_errors("reading the ledger's labels"), self.engine.connect() as conn:
            return [LabelRecord(**row._mapping) for row in conn.execute(query).all()]

    def daily_counts(self, days: int) -> DailyCounts | None:
        with translate_errors("reading live performance"), self.engine.connect() as conn:
            newest = conn.execute(
                sa.select(sa.func.max(decisions.c.event_time))
            ).scalar_one_or_none()
            if newest is None:
                return None
            last = _as_date(newest)
            first = last - timedelta(days=days - 1)
            since = datetime.combine(first, datetime.min.time(), tzinfo=newest.tzinfo)
            dialect = self.engine.dialect.name
            served = conn.execute(_served(dialect, since)).all()
            shadowed = conn.execute(_shadowed(dialect, since)).all()
        return DailyCounts(
            first, last, [_counts(r) for r in served], [_counts(r) for r in shadowed]
        )


def _served(dialect: str, since: datetime) -> sa.Select[Any]:
    """Decisions by day and version, joined with their labels."""
    alert = decisions.c.action != "allow"
    return _aggregate(
        dialect,
        decisions.c.event_time,
        decisions.c.model_version,
        alert,
        decisions.outerjoin(labels, labels.c.transaction_id == decisions.c.transaction_id),
    ).where(decisions.c.event_time >= since)


def _shadowed(dialect: str, since: datetime) -> sa.Select[Any]:
    """Shadow decisions by day and version; time and amount come from the served decision."""
    alert = shadow_decisions.c.action != "allow"
    joined = shadow_decisions.join(
        decisions, decisions.c.transaction_id == shadow_decisions.c.transaction_id
    ).outerjoin(labels, labels.c.transaction_id == shadow_decisions.c.transaction_id)
    return _aggregate(
        dialect, decisions.c.event_time, shadow_decisions.c.model_version, alert, joined
    ).where(decisions.c.event_time >= since)


def _aggregate(
    dialect: str,
    event_time: sa.ColumnElement[Any],
    version: sa.ColumnElement[Any],
    alert: sa.ColumnElement[bool],
    source: sa.FromClause,
) -> sa.Select[Any]:
    day = _day(dialect, event_time).label("day")
    fraud = labels.c.label == "fraud"
    # Recorded since packed records (0004) in its own column; before, in the JSON transaction.
    amount = sa.func.coalesce(decisions.c.amount, decisions.c.transaction["amount"].as_float())

    def total(condition: sa.ColumnElement[bool], value: Any = 1) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)

    return (
        sa.select(
            day,
            version.label("model_version"),
            sa.func.count().label("decisions"),
            total(alert).label("alerts"),
            sa.func.count(labels.c.label).label("labelled"),
            total(fraud).label("fraud"),
            total(sa.and_(fraud, alert)).label("alerted_fraud"),
            total(fraud, amount).label("fraud_amount"),
            total(sa.and_(fraud, alert), amount).label("amount_caught"),
        )
        .select_from(source)
        .group_by(day, version)
    )


def _day(dialect: str, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":  # a timestamptz's date depends on the session's zone: pin UTC
        return sa.func.date(sa.func.timezone("UTC", column))
    return sa.func.date(column)  # SQLite stores naive UTC text


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _counts(record: Any) -> DayCounts:
    return DayCounts(
        day=_as_date(record.day),
        model_version=str(record.model_version),
        decisions=int(record.decisions),
        alerts=int(record.alerts),
        labelled=int(record.labelled),
        fraud=int(record.fraud),
        alerted_fraud=int(record.alerted_fraud),
        fraud_amount=float(record.fraud_amount or 0.0),
        amount_caught=float(record.amount_caught or 0.0),
    )


def _value(value: Any, categorical: bool) -> Any:
    """A recorded value as the drift reference bins it: text for a categorical, else a float."""
    if value is None:
        return None
    if categorical:
        return str(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
