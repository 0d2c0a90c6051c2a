"""Plain ASGI middleware: per-request context and the body size limit.

``RequestContextMiddleware`` gives each request its id, writes the access log line, updates HTTP
metrics, and is the catch-all that turns an unexpected exception into a generic 500 (logged with
its traceback). ``BodyLimitMiddleware`` refuses large bodies with 413 before the app sees them.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Collection
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frisk.service.errors import error_response
from frisk.service.logs import AccessLog
from frisk.service.metrics import ServiceMetrics

__all__ = ["BodyLimitMiddleware", "RequestContextMiddleware"]

access_log = logging.getLogger("frisk.access")
error_log = logging.getLogger("frisk.service")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Request ids: 16 random hex digits per process, then a counter (32 hex digits, like a UUID's).
# Unique without a system call per request (uuid4 reads the kernel's random source each time).
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count()


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Labelled children by label values: ``labels()`` validates and locks on every call.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[str, Any] = {}
        self._access = AccessLog(access_log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if _client_gone(exc):  # not our error: nobody is left to answer
                status = 499
                access_log.info("client disconnected", extra={"request_id": request_id})
                return
            error_log.exception("unhandled error", extra={"request_id": request_id})
            self.metrics.errors.labels(type="internal").inc()
            if not response_started:
                status = 500
                response = error_response(request_id, 500, "internal", "internal error")
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            self._count(route, scope["method"], status, elapsed)
            self._access.info(
                "request",
                {
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 3),
                    "key": state.get("key_log_id"),
                },
            )

    def _count(self, route: str, method: str, status: int, elapsed: float) -> None:
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = self.metrics.requests.labels(route=route, method=method, status=status)
            if len(self._counters) < 10_000:  # routes are templates, so this stays small
                self._counters[(route, method, status)] = counter
        counter.inc()
        histogram = self._histograms.get(route)
        if histogram is None:
            histogram = self._histograms[route] = self.metrics.latency.labels(route=route)
        histogram.observe(elapsed)


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``, by Content-Length or by counting a chunked body.

    A chunked body is read (up to the limit) before the app runs and replayed to it: the app
    reads the whole body anyway, and refusing before any of it is parsed keeps the error simple.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Collection[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths that stream a large body and enforce their own limit (uploads).
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or scope["path"] in self.exempt
        ):
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None:
            if length > self.max_bytes:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id", "-")
        response = error_response(
            request_id,
            413,
            "payload_too_large",
            f"request body over {self.max_bytes} bytes (security.max_body_bytes)",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _client_gone(exc: BaseException) -> bool:
    """True for the errors of a client that went away mid-request (Starlette's while reading the
    body, uvicorn's while writing the response)."""
    return isinstance(exc, ClientDisconnect) or type(exc).__name__ == "ClientDisconnected"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
            break
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _route(scope: Scope) -> str:
    # The route template, never the path: paths hold transaction ids (and would explode labels).
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
