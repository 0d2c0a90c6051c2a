"""GET /v1/audit (analyst): who changed what and when, with the state before and after."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from frisk.errors import InvalidEventError
from frisk.service.auth import AnalystKey
from frisk.service.policy import PolicyDep
from frisk.service.schemas import AuditEntryPublic, AuditPublic, ErrorPublic

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get(
    "/audit",
    response_model=AuditPublic,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 422, 429, 503)},
)
async def audit(
    policy: PolicyDep,
    _key: AnalystKey,
    target: Annotated[
        str | None,
        Query(
            max_length=256,
            pattern=r"^[^\x00]*$",
            description="e.g. rule:<name>, list:<name>, model",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> AuditPublic:
    """Audit entries, newest first; ``next_cursor`` pages to older ones."""
    before = None
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 18:
            raise InvalidEventError("cursor", cursor, "not a cursor this API gave")
        before = int(cursor)
    entries = await run_in_threadpool(
        lambda: policy.ledger.audit_log(target=target, limit=limit + 1, before=before)
    )
    items = [AuditEntryPublic.model_validate(e) for e in entries[:limit]]
    more = len(entries) > limit and items[-1].id is not None
    return AuditPublic(items=items, next_cursor=str(items[-1].id) if more else None)
