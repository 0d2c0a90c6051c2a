"""/v1/lists: allow and block lists with expiring entries; analyst reads, admin changes.

A list with a ``field`` is a hard list, checked before any rule; any list can be read in a rule
(``payee_id in blocklist("mules")``). Changes are compiled against the rules first (a list a rule
reads cannot be dropped: 409) and stored with their audit entry; the next decision sees them.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from frisk.errors import ConflictError, InvalidEventError, NotFoundError
from frisk.policy import ListEntry, NamedList, RuleSyntaxError
from frisk.service.auth import AdminKey, AnalystKey, Principal
from frisk.service.policy import PolicyDep, PolicyState
from frisk.service.schemas import (
    ErrorPublic,
    ListChangePublic,
    ListCreate,
    ListDetailPublic,
    ListEntriesCreate,
    ListEntryPublic,
    ListPublic,
    ListsPublic,
    ListUpdate,
)
from frisk.store.lists import ListInfo

router = APIRouter(prefix="/v1", tags=["lists"])

_READ: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 422, 429, 503)
}
_WRITE: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 409, 422, 429, 503)
}
Limit = Annotated[int, Query(ge=1, le=500)]
ListName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Value = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]


@router.get("/lists", response_model=ListsPublic, responses=_READ)
async def all_lists(policy: PolicyDep, _key: AnalystKey) -> ListsPublic:
    version, infos = await run_in_threadpool(policy.lists.describe)
    return ListsPublic(version=version, lists=[_public(i) for i in infos])


@router.post("/lists", status_code=201, response_model=ListPublic, responses=_WRITE)
async def create_list(body: ListCreate, policy: PolicyDep, key: AdminKey) -> ListPublic:
    """Create a list; 409 when one of that name exists (PUT redefines)."""
    spec = NamedList(body.name, body.kind, body.field, body.description)

    def create() -> ListPublic:
        if spec.name in policy.live.policy.lists.definitions or _exists(policy, spec.name):
            raise ConflictError(
                f"list {spec.name!r} exists; PUT /v1/lists/{spec.name} redefines it"
            )
        return _define(policy, spec, key)

    return await run_in_threadpool(create)


@router.get("/lists/{name}", response_model=ListDetailPublic, responses=_READ)
async def get_list(
    name: ListName,
    policy: PolicyDep,
    _key: AnalystKey,
    limit: Limit = 50,
    cursor: str | None = None,
) -> ListDetailPublic:
    """A list and its entries by value, ``limit`` at a time (expired ones included, marked)."""
    after = _decode(cursor)
    info, rows = await run_in_threadpool(
        lambda: policy.lists.page(name, limit=limit + 1, after=after)
    )
    now = datetime.now(UTC)
    entries = [
        ListEntryPublic(
            value=e.value,
            expires_at=e.expires_at,
            note=e.note,
            added_by=who,
            added_at=when,
            expired=e.expires_at is not None and now >= e.expires_at,
        )
        for e, who, when in rows[:limit]
    ]
    more = len(rows) > limit
    return ListDetailPublic(
        **_public(info).model_dump(),
        entries=entries,
        next_cursor=_encode(entries[-1].value) if more and entries else None,
    )


@router.put("/lists/{name}", response_model=ListPublic, responses=_WRITE)
async def put_list(
    name: ListName, body: ListUpdate, policy: PolicyDep, key: AdminKey
) -> ListPublic:
    """Create a list or redefine one (its entries stay); refused if a rule would break."""
    spec = NamedList(name, body.kind, body.field, body.description)
    return await run_in_threadpool(_define, policy, spec, key)


@router.delete("/lists/{name}", status_code=204, responses=_WRITE)
async def delete_list(name: ListName, policy: PolicyDep, key: AdminKey) -> Response:
    """Drop a list and its entries; 409 while a rule reads it."""

    def drop() -> None:
        try:
            policy.live.drop_list(name, actor=key.log_id, at=datetime.now(UTC))
        except RuleSyntaxError as exc:
            raise ConflictError(f"list {name!r} is read by a rule: {exc.reason}") from exc

    await run_in_threadpool(drop)
    return Response(status_code=204)


@router.post("/lists/{name}/entries", response_model=ListChangePublic, responses=_WRITE)
async def add_entries(
    name: ListName, body: ListEntriesCreate, policy: PolicyDep, key: AdminKey
) -> ListChangePublic:
    """Add entries, or renew the expiry and note of ones already there."""
    entries = [ListEntry(e.value, e.expires_at, e.note) for e in body.entries]

    def add() -> ListChangePublic:
        policy.live.add_entries(name, entries, actor=key.log_id, at=datetime.now(UTC))
        return ListChangePublic(
            list=name,
            changed=len({e.value for e in entries}),
            version=policy.live.policy.lists.version,
        )

    return await run_in_threadpool(add)


@router.delete("/lists/{name}/entries/{value}", status_code=204, responses=_WRITE)
async def remove_entry(name: ListName, value: Value, policy: PolicyDep, key: AdminKey) -> Response:
    """Remove one value; 404 when the list does not hold it."""
    await run_in_threadpool(
        lambda: policy.live.remove_entries(name, [value], actor=key.log_id, at=datetime.now(UTC))
    )
    return Response(status_code=204)


def _define(policy: PolicyState, spec: NamedList, key: Principal) -> ListPublic:
    policy.live.create_list(spec, actor=key.log_id, at=datetime.now(UTC))
    info, _ = policy.lists.page(spec.name, limit=1)
    return _public(info)


def _exists(policy: PolicyState, name: str) -> bool:
    try:
        policy.lists.page(name, limit=1)
    except NotFoundError:
        return False
    return True


def _public(info: ListInfo) -> ListPublic:
    s = info.spec
    return ListPublic(
        name=s.name,
        kind=s.kind,
        field=s.field,
        description=s.description,
        size=info.size,
        updated_by=info.updated_by,
        updated_at=info.updated_at,
    )


def _encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if "\x00" in after:
            raise ValueError(cursor)
        return after
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidEventError("cursor", cursor, "not a cursor this API gave") from None
