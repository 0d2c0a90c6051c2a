"""Who is calling: API keys from ``X-API-Key`` or ``Authorization: Bearer``, roles, rate limits.

Routes ask for a key with a permission through the aliases at the top (``ScorerKey``,
``AnalystKey``, ``AdminKey``). Keys are looked up in the ledger and trusted for
``security.key_cache_seconds``, so a revocation takes effect within that time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from frisk.schema import Role
from frisk.service.errors import AuthenticationError, PermissionDeniedError, RateLimitedError

# KeyCache and Principal live with the keys (service.keys); re-exported for the routes.
from frisk.service.keys import KeyCache, Principal
from frisk.service.ratelimit import limit_for, retry_after

if TYPE_CHECKING:
    from frisk.service.deps import ServiceState

__all__ = [
    "AdminKey",
    "AnalystKey",
    "KeyCache",
    "Permission",
    "Principal",
    "ScorerKey",
    "authenticate",
    "authorise",
    "charge",
    "require",
]


class Permission(StrEnum):
    SCORE = "score"
    READ = "read"
    ADMIN = "admin"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.SCORER: frozenset({Permission.SCORE}),
    Role.ANALYST: frozenset({Permission.READ}),
    Role.ADMIN: frozenset(Permission),
}


async def authenticate(request: Request) -> Principal:
    """The caller's key, verified and charged one token."""
    key = _presented_key(request)
    if key is None:
        raise AuthenticationError("an API key is required (X-API-Key or Authorization: Bearer)")
    state: ServiceState = request.app.state.frisk
    principal = await state.keys.principal(key)
    if principal is None:
        raise AuthenticationError("unknown or revoked API key")
    request.state.key_log_id = principal.log_id
    charge(state, principal, 1)
    return principal


def charge(state: ServiceState, principal: Principal, cost: float) -> None:
    """Take ``cost`` tokens from the key's bucket or refuse with 429."""
    limiter = state.limiter
    if limiter is None or cost <= 0:
        return
    limit = limit_for(state.settings.security.rate_limit, principal.role, principal.rate_limit)
    wait = limiter.acquire(principal.key_id, cost, limit)
    if wait > 0:
        raise RateLimitedError(retry_after(wait))


def authorise(principal: Principal, permission: Permission) -> Principal:
    """``principal`` if its role grants ``permission``; 403 otherwise."""
    if permission not in GRANTS[principal.role]:
        raise PermissionDeniedError(f"role {principal.role.value!r} may not {permission.value}")
    return principal


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only keys whose role grants ``permission`` through."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        return authorise(principal, permission)

    return check


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


ScorerKey = Annotated[Principal, Depends(require(Permission.SCORE))]
AnalystKey = Annotated[Principal, Depends(require(Permission.READ))]
AdminKey = Annotated[Principal, Depends(require(Permission.ADMIN))]
