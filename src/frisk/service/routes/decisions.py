"""GET /v1/decisions/{transaction_id}."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from frisk.errors import NotFoundError
from frisk.service.auth import AnalystKey
from frisk.service.deps import LedgerDep
from frisk.service.schemas import DecisionPublic, ErrorPublic

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.get(
    "/decisions/{transaction_id}",
    response_model=DecisionPublic,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 404, 429)},
)
async def get_decision(transaction_id: str, ledger: LedgerDep, _key: AnalystKey) -> DecisionPublic:
    record = await run_in_threadpool(ledger.get_decision, transaction_id)
    if record is None:
        raise NotFoundError(f"no decision for transaction {transaction_id!r}")
    return DecisionPublic.from_record(record)
