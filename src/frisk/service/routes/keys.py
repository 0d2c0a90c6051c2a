"""/v1/keys: API keys for admins; the key is shown once, on creation, and stored as a hash.

A revoked key stops working on every node within ``security.key_cache_seconds``. A key's own rate
limit applies from its first request; without one, its role's default does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from frisk.service.auth import AdminKey
from frisk.service.deps import LedgerDep
from frisk.service.keys import create_key, revoke_key
from frisk.service.schemas import ErrorPublic, KeyCreate, KeyCreated, KeyPublic, KeysPublic

router = APIRouter(prefix="/v1", tags=["keys"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 422, 429, 503)
}


@router.post("/keys", response_model=KeyCreated, status_code=201, responses=_ERRORS)
async def create(body: KeyCreate, ledger: LedgerDep, key: AdminKey) -> KeyCreated:
    """Create a key; the response holds it, the only time it is shown."""
    made, record = await run_in_threadpool(
        lambda: create_key(
            ledger,
            body.role,
            body.name or body.role.value,
            actor=f"api:{key.log_id}",
            rate_limit=body.rate_limit,
        )
    )
    return KeyCreated.model_validate({**KeyPublic.model_validate(record).model_dump(), "key": made})


@router.get("/keys", response_model=KeysPublic, responses=_ERRORS)
async def list_keys(
    ledger: LedgerDep,
    _key: AdminKey,
    include_revoked: Annotated[bool, Query(description="Revoked keys too.")] = False,
) -> KeysPublic:
    """Keys by creation time (ids, roles, names, rate limits; never the keys)."""
    records = await run_in_threadpool(ledger.list_api_keys, include_revoked=include_revoked)
    return KeysPublic(items=[KeyPublic.model_validate(r) for r in records])


@router.delete("/keys/{key_id}", response_model=KeyPublic, responses=_ERRORS)
async def revoke(
    key_id: Annotated[str, Path(max_length=32)], ledger: LedgerDep, key: AdminKey
) -> KeyPublic:
    """Revoke a key (404 when there is none); revoking it again changes nothing."""
    record = await run_in_threadpool(lambda: revoke_key(ledger, key_id, actor=f"api:{key.log_id}"))
    return KeyPublic.model_validate(record)
