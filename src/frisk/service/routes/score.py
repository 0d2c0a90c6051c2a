"""POST /v1/score and /v1/score/batch."""

from __future__ import annotations

from fastapi import APIRouter, Response

from frisk.errors import InvalidEventError
from frisk.schema import Transaction
from frisk.service.auth import ScorerKey, charge
from frisk.service.deps import ScorerDep, StateDep
from frisk.service.schemas import DecisionPublic, ErrorPublic

router = APIRouter(prefix="/v1", tags=["scoring"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 409, 413, 422, 429, 503)
}


@router.post("/score", response_model=DecisionPublic, responses=_ERRORS)
async def score(
    txn: Transaction, scorer: ScorerDep, _key: ScorerKey, response: Response
) -> DecisionPublic:
    """Decide one transaction; a retry with the same id and body returns the recorded decision."""
    scored = await scorer.score_async(txn)
    if scored.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return DecisionPublic.from_record(scored.record)


@router.post("/score/batch", response_model=list[DecisionPublic], responses=_ERRORS)
def score_batch(
    txns: list[Transaction], scorer: ScorerDep, state: StateDep, key: ScorerKey
) -> list[DecisionPublic]:
    """Decide transactions in the order given; each is recorded (and retried) on its own."""
    limit = state.settings.api.max_batch
    if not txns or len(txns) > limit:
        raise InvalidEventError("body", len(txns), f"a batch holds 1 to {limit} transactions")
    charge(state, key, len(txns) - 1)  # the key already paid one token to get here
    return [DecisionPublic.from_record(scorer.score(txn).record) for txn in txns]
