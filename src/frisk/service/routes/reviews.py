"""The review queue (analyst, admin): GET /v1/reviews, GET and POST /v1/reviews/{transaction_id}.

Decisions with action ``review`` are the queue (``frisk.store.reviews``). A change is checked
against the version the analyst read (409 when stale or not allowed from the current status),
audited, and a resolution writes a label (source "review") that the engine's features learn.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from frisk.errors import InvalidEventError, NotFoundError
from frisk.service.auth import AnalystKey
from frisk.service.deps import StateDep
from frisk.service.routes.labels import LABEL_WRITES, actor_of, apply_labels, checked_text
from frisk.service.schemas import (
    AuditEntryPublic,
    DecisionPublic,
    ErrorPublic,
    HistoryItemPublic,
    LabelPublic,
    ReviewChangeCreate,
    ReviewDetailPublic,
    ReviewPublic,
    ReviewsPublic,
)
from frisk.store.ledger import ReviewQueue
from frisk.store.reviews import (
    ReviewAction,
    ReviewChange,
    ReviewFilter,
    ReviewStatus,
    ReviewUpdate,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["reviews"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 422, 429, 503)
}
_MAX_AGE = 100 * 365 * 86_400.0  # seconds; beyond, an age filter means nothing


async def _store(request: Request) -> ReviewQueue:
    store: ReviewQueue = request.app.state.frisk.ledger.reviews
    return store


ReviewsDep = Annotated[ReviewQueue, Depends(_store)]


@router.get("/reviews", response_model=ReviewsPublic, responses=_ERRORS)
async def list_reviews(
    store: ReviewsDep,
    _key: AnalystKey,
    status: Annotated[
        str, Query(description="Comma list of open, assigned, resolved.")
    ] = "open,assigned",
    tier: Annotated[str | None, Query(description="Comma list of risk tiers.")] = None,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
    min_age_seconds: Annotated[float | None, Query(ge=0, le=_MAX_AGE)] = None,
    max_age_seconds: Annotated[float | None, Query(ge=0, le=_MAX_AGE)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> ReviewsPublic:
    """The queue by score, highest first; ``next_cursor`` pages on (stable under new decisions)."""
    for field, value in (("status", status), ("tier", tier), ("assignee", assignee)):
        checked_text(value, field)
    where = ReviewFilter(
        statuses=_statuses(status),
        tiers=frozenset(t.strip() for t in (tier or "").split(",") if t.strip()),
        assignee=assignee,
        min_age=None if min_age_seconds is None else timedelta(seconds=min_age_seconds),
        max_age=None if max_age_seconds is None else timedelta(seconds=max_age_seconds),
    )
    now = datetime.now(UTC)
    page = await run_in_threadpool(store.page, where, now=now, limit=limit, cursor=cursor)
    return ReviewsPublic(
        items=[ReviewPublic.from_item(i, now) for i in page.items],
        next_cursor=page.next_cursor,
        total=page.total,
    )


@router.get("/reviews/{transaction_id}", response_model=ReviewDetailPublic, responses=_ERRORS)
async def get_review(
    transaction_id: str, store: ReviewsDep, state: StateDep, _key: AnalystKey
) -> ReviewDetailPublic:
    """A review with its decision and reasons, label, audit, and the parties' recent history."""
    checked_text(transaction_id, "transaction_id")

    def read() -> ReviewDetailPublic:
        item = store.get(transaction_id)
        decision = state.ledger.get_decision(transaction_id)
        if item is None or decision is None:
            raise NotFoundError(f"no review decision for transaction {transaction_id!r}")
        label = state.ledger.get_label(transaction_id)
        payer = store.history(payer_id=item.payer_id) if item.payer_id is not None else []
        payee = store.history(payee_id=item.payee_id) if item.payee_id is not None else []
        audit = state.ledger.audit_log(target=f"review:{transaction_id}")
        return ReviewDetailPublic(
            review=ReviewPublic.from_item(item, datetime.now(UTC)),
            decision=DecisionPublic.from_record(decision),
            label=None if label is None else LabelPublic.model_validate(label),
            payer_history=[HistoryItemPublic.model_validate(h) for h in payer],
            payee_history=[HistoryItemPublic.model_validate(h) for h in payee],
            audit=[AuditEntryPublic.model_validate(e) for e in audit],
        )

    return await run_in_threadpool(read)


@router.post(
    "/reviews/{transaction_id}",
    response_model=ReviewPublic,
    responses={**_ERRORS, 409: {"model": ErrorPublic}},
)
async def change_review(
    transaction_id: str,
    body: ReviewChangeCreate,
    store: ReviewsDep,
    state: StateDep,
    key: AnalystKey,
) -> ReviewPublic:
    """Assign, unassign, resolve (writes and applies a label) or reopen, with a note.

    409 when ``version`` is stale, or the review's status does not allow the action.
    """
    checked_text(transaction_id, "transaction_id")
    change = ReviewChange(
        action=ReviewAction(body.action),
        assignee=body.assignee,
        resolution=body.resolution,
        note=body.note,
        version=body.version,
    )
    actor = await actor_of(state, key)

    def write() -> ReviewUpdate:
        # Under the label lock: a resolution's label reaches the engine in ledger order.
        with LABEL_WRITES:
            update = store.change(transaction_id, change, actor=actor, at=datetime.now(UTC))
            if update.label is not None:
                apply_labels(state, [update.label])
            return update

    update = await run_in_threadpool(write)
    return ReviewPublic.from_item(update.review, datetime.now(UTC))


def _statuses(text: str) -> frozenset[ReviewStatus]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    known = {s.value for s in ReviewStatus}
    for name in names:
        if name not in known:
            raise InvalidEventError("status", name, "one of open, assigned, resolved")
    if not names:
        raise InvalidEventError("status", text, "one of open, assigned, resolved")
    return frozenset(ReviewStatus(n) for n in names)
