"""GET /v1/decisions/{transaction_id}."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from frisk.errors import NotFoundError
from frisk.service.auth import AnalystKey
from frisk.service.deps import LedgerDep
from frisk.service.schemas import DecisionDetailPublic, ErrorPublic

router = APIRouter(prefix="/v1", tags=["decisions"])

Include = Annotated[
    list[Literal["features"]] | None,
    Query(description="`features`: add the feature values the decision read."),
]


@router.get(
    "/decisions/{transaction_id}",
    response_model=DecisionDetailPublic,
    # Without ?include, exactly POST /v1/score's body: ``features`` is left out, not null.
    response_model_exclude_unset=True,
    responses={code: {"model": ErrorPublic} for code in (401, 403, 404, 422, 429)},
)
async def get_decision(
    transaction_id: str, ledger: LedgerDep, _key: AnalystKey, include: Include = None
) -> DecisionDetailPublic:
    """The recorded decision; with ``?include=features``, the features it read, as recorded."""
    record = await run_in_threadpool(ledger.get_decision, transaction_id)
    if record is None:
        raise NotFoundError(f"no decision for transaction {transaction_id!r}")
    return DecisionDetailPublic.from_record_with(record, features="features" in (include or ()))
