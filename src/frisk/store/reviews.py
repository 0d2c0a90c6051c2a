"""The review queue: decisions with action ``review``, their review state, and the parties' history.

A decision whose action is ``review`` is in the queue from the moment it is recorded; its row in
``reviews`` appears on the first change, so no row means open, unassigned, version 0. States::

    open --assign--> assigned --unassign--> open
    open/assigned --resolve--> resolved --reopen--> open      (assign again reassigns)

Every change bumps ``version`` and is checked against it (optimistic concurrency: a stale or
concurrent change is a ``ConflictError``), and is written in one transaction with its audit entry
and, for a resolution, the label it sets (source "review"). SQL Core on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from frisk.errors import ConflictError, InvalidEventError, NotFoundError
from frisk.store._driver_errors import translate_errors
from frisk.store.decision_rows import payload_columns, transaction_of
from frisk.store.label_writes import write_labels
from frisk.store.records import (
    HistoryItem,
    LabelWrite,
    ReviewAction,
    ReviewChange,
    ReviewFilter,
    ReviewItem,
    ReviewPage,
    ReviewStatus,
    ReviewUpdate,
)
from frisk.store.tables import ALERT, audit_log, decisions, labels, reviews

__all__ = [
    "HistoryItem",
    "ReviewAction",
    "ReviewChange",
    "ReviewFilter",
    "ReviewItem",
    "ReviewPage",
    "ReviewStatus",
    "ReviewStore",
    "ReviewUpdate",
]

REVIEW = "review"  # the decision action that puts a transaction in the queue
HISTORY_LIMIT = 50


# The transitions: action -> statuses it may start from.
_FROM: dict[ReviewAction, frozenset[ReviewStatus]] = {
    ReviewAction.ASSIGN: frozenset({ReviewStatus.OPEN, ReviewStatus.ASSIGNED}),
    ReviewAction.UNASSIGN: frozenset({ReviewStatus.ASSIGNED}),
    ReviewAction.RESOLVE: frozenset({ReviewStatus.OPEN, ReviewStatus.ASSIGNED}),
    ReviewAction.REOPEN: frozenset({ReviewStatus.RESOLVED}),
}
_STATUS = sa.func.coalesce(reviews.c.status, ReviewStatus.OPEN.value)
_COLUMNS = (
    decisions.c.transaction_id,
    decisions.c.score,
    decisions.c.risk_score,
    decisions.c.tier,
    decisions.c.action,
    *payload_columns("transaction"),
    decisions.c.payer_id,
    decisions.c.payee_id,
    decisions.c.event_time,
    decisions.c.created_at,
    _STATUS.label("status"),
    reviews.c.assignee,
    reviews.c.resolution,
    reviews.c.note,
    reviews.c.updated_at,
    reviews.c.updated_by,
    reviews.c.resolved_at,
    sa.func.coalesce(reviews.c.version, 0).label("version"),
)
_QUEUE = decisions.outerjoin(reviews, reviews.c.transaction_id == decisions.c.transaction_id)


class ReviewStore:
    """The review queue over a ledger's database (the engine of an ``SqlLedger``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(
        self, where: ReviewFilter, *, now: datetime, limit: int = 50, cursor: str | None = None
    ) -> ReviewPage:
        """Reviews by score, highest first (ties by id); ``cursor`` continues a listing.

        The cursor is the last item's (score, id), so a page never repeats or skips an item
        that was in the queue when the listing began, whatever was decided meanwhile.
        """
        conditions = _conditions(where, now)
        query = sa.select(*_COLUMNS).select_from(_QUEUE).where(*conditions)
        if cursor is not None:
            score, txn = _decode(cursor)
            query = query.where(
                sa.or_(
                    decisions.c.score < score,
                    sa.and_(decisions.c.score == score, decisions.c.transaction_id > txn),
                )
            )
        query = query.order_by(decisions.c.score.desc(), decisions.c.transaction_id).limit(
            limit + 1
        )
        count = sa.select(sa.func.count()).select_from(_QUEUE).where(*conditions)
        with translate_errors("listing reviews"), self.engine.connect() as conn:
            rows = conn.execute(query).all()
            total = int(conn.execute(count).scalar_one())
        items = [_item(row._mapping) for row in rows[:limit]]
        more = len(rows) > limit
        next_cursor = _encode(items[-1].score, items[-1].transaction_id) if more else None
        return ReviewPage(items, next_cursor, total)

    def get(self, transaction_id: str) -> ReviewItem | None:
        """The review of a transaction; None unless its decision's action is ``review``."""
        with translate_errors("reading a review"), self.engine.connect() as conn:
            return _read(conn, transaction_id)

    def change(
        self, transaction_id: str, change: ReviewChange, *, actor: str, at: datetime
    ) -> ReviewUpdate:
        """Apply ``change`` (see the module doc); ``NotFoundError``, or ``ConflictError`` for a
        stale version, a concurrent change, or a transition the current status does not allow."""
        _check(change)
        doing = f"changing review {transaction_id!r}"
        with translate_errors(doing), self.engine.begin() as conn:
            current = _read(conn, transaction_id)
            if current is None:
                raise NotFoundError(f"no review decision for transaction {transaction_id!r}")
            if change.version is not None and change.version != current.version:
                raise ConflictError(
                    f"review {transaction_id!r} is at version {current.version}, not "
                    f"{change.version}: it changed since it was read"
                )
            if current.status not in _FROM[change.action]:
                raise ConflictError(
                    f"review {transaction_id!r} is {current.status.value}: it cannot be "
                    f"{_PAST[change.action]}"
                )
            values = _after(current, change, actor, at)
            _write(conn, current, values)
            label = None
            if change.action is ReviewAction.RESOLVE:
                assert change.resolution is not None
                write = LabelWrite(transaction_id, change.resolution, at, REVIEW)
                label = write_labels(conn, [write], actor=actor, at=at)[0]
            conn.execute(
                audit_log.insert().values(
                    actor=actor,
                    action=f"review.{change.action.value}",
                    target=f"review:{transaction_id}",
                    before=_state(current),
                    after={k: _json(v) for k, v in values.items() if k != "updated_by"},
                    at=at,
                )
            )
            after = _read(conn, transaction_id)
        assert after is not None
        return ReviewUpdate(after, label)

    def history(
        self,
        *,
        payer_id: str | None = None,
        payee_id: str | None = None,
        before: datetime | None = None,
        limit: int = HISTORY_LIMIT,
    ) -> list[HistoryItem]:
        """A party's decisions, newest first by event time (through the party's index)."""
        if (payer_id is None) == (payee_id is None):
            raise ValueError("give one of payer_id or payee_id")
        party = (
            decisions.c.payer_id == payer_id
            if payer_id is not None
            else decisions.c.payee_id == payee_id
        )
        query = (
            sa.select(
                decisions.c.transaction_id,
                decisions.c.event_time,
                *payload_columns("transaction"),
                decisions.c.payer_id,
                decisions.c.payee_id,
                decisions.c.score,
                decisions.c.action,
                labels.c.label,
            )
            .select_from(
                decisions.outerjoin(labels, labels.c.transaction_id == decisions.c.transaction_id)
            )
            .where(party)
            .order_by(decisions.c.event_time.desc(), decisions.c.transaction_id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(decisions.c.event_time <= before)
        with translate_errors("reading a party's history"), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        transactions = [transaction_of(r._mapping) for r in rows]
        return [
            HistoryItem(
                transaction_id=r.transaction_id,
                event_time=r.event_time,
                amount=_amount(txn),
                currency=_text(txn, "currency"),
                payer_id=r.payer_id,
                payee_id=r.payee_id,
                score=r.score,
                action=r.action,
                label=r.label,
            )
            for r, txn in zip(rows, transactions, strict=True)
        ]


_PAST = {
    ReviewAction.ASSIGN: "assigned",
    ReviewAction.UNASSIGN: "unassigned (it is not assigned)",
    ReviewAction.RESOLVE: "resolved (reopen it first)",
    ReviewAction.REOPEN: "reopened (it is not resolved)",
}


def _check(change: ReviewChange) -> None:
    if change.action is ReviewAction.ASSIGN and not (change.assignee or "").strip():
        raise InvalidEventError("assignee", change.assignee, "assign needs an assignee")
    if change.action is ReviewAction.RESOLVE and change.resolution not in ("fraud", "legit"):
        raise InvalidEventError("resolution", change.resolution, "resolve needs fraud or legit")


def _after(current: ReviewItem, change: ReviewChange, actor: str, at: datetime) -> dict[str, Any]:
    status, assignee = current.status, current.assignee
    resolution, resolved_at = current.resolution, current.resolved_at
    if change.action is ReviewAction.ASSIGN:
        status, assignee = ReviewStatus.ASSIGNED, (change.assignee or "").strip()
    elif change.action is ReviewAction.UNASSIGN:
        status, assignee = ReviewStatus.OPEN, None
    elif change.action is ReviewAction.RESOLVE:
        status, resolution, resolved_at = ReviewStatus.RESOLVED, change.resolution, at
    else:  # reopen
        status, assignee, resolution, resolved_at = ReviewStatus.OPEN, None, None, None
    return {
        "status": status.value,
        "assignee": assignee,
        "resolution": resolution,
        "note": change.note,
        "updated_by": actor,
        "updated_at": at,
        "resolved_at": resolved_at,
        "version": current.version + 1,
    }


def _write(conn: Connection, current: ReviewItem, values: dict[str, Any]) -> None:
    txn = current.transaction_id
    if current.version == 0:
        # A first change: a concurrent first change inserted the row first -> IntegrityError,
        # translated to ConflictError by the caller.
        conn.execute(reviews.insert().values(transaction_id=txn, **values))
        return
    done = conn.execute(
        reviews.update()
        .where(reviews.c.transaction_id == txn, reviews.c.version == current.version)
        .values(values)
    )
    if done.rowcount != 1:
        raise ConflictError(f"review {txn!r} changed while this change was written; read it again")


def _read(conn: Connection, transaction_id: str) -> ReviewItem | None:
    query = (
        sa.select(*_COLUMNS)
        .select_from(_QUEUE)
        .where(decisions.c.transaction_id == transaction_id, decisions.c.action == REVIEW)
    )
    row = conn.execute(query).one_or_none()
    return None if row is None else _item(row._mapping)


def _conditions(where: ReviewFilter, now: datetime) -> list[sa.ColumnElement[bool]]:
    # ALERT: SQLite reads the queue through the alerts' partial index only when told.
    out: list[sa.ColumnElement[bool]] = [decisions.c.action == REVIEW, ALERT]
    if where.statuses != frozenset(ReviewStatus):
        out.append(_STATUS.in_(sorted(s.value for s in where.statuses)))
    if where.tiers:
        out.append(decisions.c.tier.in_(sorted(where.tiers)))
    if where.assignee is not None:
        out.append(reviews.c.assignee == where.assignee)
    if where.min_age is not None:
        out.append(decisions.c.created_at <= now - where.min_age)
    if where.max_age is not None:
        out.append(decisions.c.created_at >= now - where.max_age)
    return out


def _item(row: RowMapping) -> ReviewItem:
    txn = transaction_of(row)
    return ReviewItem(
        transaction_id=row["transaction_id"],
        score=row["score"],
        risk_score=row["risk_score"],
        tier=row["tier"],
        action=row["action"],
        amount=_amount(txn),
        currency=_text(txn, "currency"),
        payer_id=row["payer_id"],
        payee_id=row["payee_id"],
        event_time=row["event_time"],
        created_at=row["created_at"],
        status=ReviewStatus(row["status"]),
        assignee=row["assignee"],
        resolution=row["resolution"],
        note=row["note"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
        resolved_at=row["resolved_at"],
        version=int(row["version"]),
    )


def _state(item: ReviewItem) -> dict[str, Any]:
    return {
        "status": item.status.value,
        "assignee": item.assignee,
        "resolution": item.resolution,
        "version": item.version,
    }


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _amount(txn: Any) -> float | None:
    value = txn.get("amount") if isinstance(txn, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _text(txn: Any, key: str) -> str | None:
    value = txn.get(key) if isinstance(txn, dict) else None
    return None if value is None else str(value)


def _encode(score: float, transaction_id: str) -> str:
    raw = json.dumps([score, transaction_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        score, txn = json.loads(raw)
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise TypeError
        if not isinstance(txn, str) or "\x00" in txn:
            raise TypeError
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidEventError("cursor", cursor, "not a cursor this listing returned") from None
    return float(score), txn
