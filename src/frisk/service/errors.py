"""HTTP errors: the service's own error classes and the one map from Frisk errors to status codes.

    FriskError (frisk.errors)
    └── ServiceError
        ├── AuthenticationError   401  no key, or not a key we know
        ├── PermissionDeniedError 403  a key whose role may not do this
        └── RateLimitedError      429  with Retry-After
    NotReadyError (frisk.errors)  503  no engine, or not warm yet
    InputError (frisk.errors)     422  bad input, naming the field or row
    ├── UploadTooLargeError       413  an upload over the byte or row limit
    └── UnsupportedUploadError    415  an upload neither CSV nor Parquet
    NotFoundError                 404
    ConflictError                 409
    StoreError                    503  the ledger failed: nothing was recorded, nothing returned

Every error response has the same body (``ErrorPublic``) and carries the request id. Clients never
see a traceback: anything unexpected becomes a generic 500 in ``middleware`` and is logged there.
Nor do they see internals: a store failure is a generic 503 with ``Retry-After`` (the driver's
message, with its host and port, goes to the log), and file paths in any message are redacted.
``_STATUS`` is the one table from error classes to status codes; routes raise, never answer errors
themselves.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from frisk.errors import (
    ConflictError,
    FriskError,
    InputError,
    InvalidEventError,
    NotFoundError,
    NotReadyError,
    RecordRefusedError,
    StateUnavailable,
    StoreError,
)
from frisk.schema import reason_of
from frisk.service.schemas import ErrorPublic
from frisk.store.breaker import StoreUnavailableError, whole_seconds

__all__ = [
    "AuthenticationError",
    "BatchStoppedError",
    "NotReadyError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServiceError",
    "UnsupportedUploadError",
    "UploadTooLargeError",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger("frisk.service")


class ServiceError(FriskError):
    """An error only the HTTP service raises."""


class AuthenticationError(ServiceError):
    """No API key, or one that is unknown or revoked."""


class PermissionDeniedError(ServiceError):
    """A valid key whose role does not allow the request."""


class RateLimitedError(ServiceError):
    """The key spent its tokens; ``retry_after`` seconds until enough are back."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limit exceeded; retry after {retry_after} s")


class UploadTooLargeError(InputError):
    """An upload over the byte or row limit (413)."""


class UnsupportedUploadError(InputError):
    """An upload that is neither CSV nor Parquet, by name or by content (415)."""


class BatchStoppedError(ServiceError):
    """A batch stopped at item ``index`` by ``cause``; the items before it were decided and
    recorded (``recorded``: their ids), the rest were not tried. Answered with ``cause``'s status.
    """

    def __init__(self, cause: FriskError, index: int, recorded: list[str]) -> None:
        self.cause = cause
        self.index = index
        self.recorded = recorded
        super().__init__(f"item {index}: {cause}; {self.outcome}")

    @property
    def outcome(self) -> str:
        if not self.index:
            return "no item was decided"
        return (
            f"items 0 to {self.index - 1} were decided and recorded (retry them to read their "
            "decisions); the items after it were not tried"
        )


# Most specific first: the first matching class wins.
_STATUS: tuple[tuple[type[FriskError], int, str], ...] = (
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (RateLimitedError, 429, "rate_limited"),
    (NotReadyError, 503, "not_ready"),
    (UploadTooLargeError, 413, "payload_too_large"),
    (UnsupportedUploadError, 415, "unsupported_media_type"),
    (InputError, 422, "invalid_input"),
    # The ledger refused this request's record for its content: retrying cannot help.
    (RecordRefusedError, 422, "refused_by_ledger"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    # The ledger failed: the decision was not recorded, so it must not be returned.
    (StoreError, 503, "store_unavailable"),
)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FriskError, _frisk_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]


def error_response(
    request_id: str,
    status: int,
    error: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **detail: Any,
) -> JSONResponse:
    body = ErrorPublic(error=error, message=message, request_id=request_id, **detail)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers=headers,
    )


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


# Absolute file paths (a server's temporary or home directory) never reach a client.
_PATH = re.compile(r"(?<![\w:/])/(?:[\w.-]+/)+[\w.-]*")
_STORE_MESSAGE = "the ledger is unavailable; retry shortly"
_STATE_MESSAGE = "the feature state store is unavailable; retry shortly"


def redact(message: str) -> str:
    """``message`` with absolute file paths replaced by ``<path>``."""
    return _PATH.sub("<path>", message)


async def _frisk_error(request: Request, exc: FriskError) -> JSONResponse:
    batch = exc if isinstance(exc, BatchStoppedError) else None
    if batch is not None:
        exc = batch.cause
    status, error = 500, "internal"
    for cls, code, name in _STATUS:
        if isinstance(exc, cls):
            status, error = code, name
            break
    if status == 500:  # a FriskError the map does not know: a bug, not the client's fault
        log.error("unmapped error", exc_info=exc, extra={"request_id": request_id_of(request)})
        _count(request, "internal")
        return error_response(request_id_of(request), 500, "internal", "internal error")
    message = redact(str(exc))
    headers = {}
    if isinstance(exc, StoreError) and status == 503:
        log.error("ledger failed: %s", exc, extra={"request_id": request_id_of(request)})
        # The driver's message names hosts and ports: logged only.
        message = _STATE_MESSAGE if isinstance(exc, StateUnavailable) else _STORE_MESSAGE
        retry = exc.retry_after if isinstance(exc, StoreUnavailableError) else 1.0
        headers["Retry-After"] = str(whole_seconds(retry))
    _count(request, error)
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, NotReadyError):
        headers["Retry-After"] = "5"
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, UploadTooLargeError):
        # Close: the client may still be sending the rest of a body the service will not read.
        headers["Connection"] = "close"
    detail: dict[str, Any] = {}
    if isinstance(exc, InvalidEventError):
        detail.update(field=exc.field, reason=redact(exc.reason))
    if batch is not None:
        detail.update(index=batch.index, recorded=batch.recorded)
        message = f"item {batch.index}: {message}; {batch.outcome}"
    return error_response(request_id_of(request), status, error, message, headers=headers, **detail)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    # Drop the "body" prefix: clients name fields as they sent them.
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    field = ".".join(loc) or "body"
    reason = reason_of(first)
    _count(request, "invalid_input")
    return error_response(
        request_id_of(request),
        422,
        "invalid_input",
        f"{field}: {reason}",
        field=field,
        reason=reason,
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # Routing and framework errors: 404 for unknown paths, 405, and 413 from the body limit.
    names = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    error = names.get(exc.status_code, "http_error")
    _count(request, error)
    return error_response(
        request_id_of(request),
        exc.status_code,
        error,
        str(exc.detail),
        headers=dict(exc.headers or {}),
    )


def _count(request: Request, error: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(type=error).inc()
