"""POST /v1/score and /v1/score/batch.

``/v1/score`` is the hot path, served by ``ScoreRoute``: FastAPI derives its OpenAPI from the
endpoint's signature as for any route, but a request does not go through FastAPI's generic
machinery (dependency solving, ``json.loads`` then validation, response-model validation and
encoding), which cost more CPU than deciding. The handler resolves the same parameters in a fixed
order with the same functions (``authenticate``, ``authorise``, the ``Transaction`` model) and
raises the same errors: 401/403/429 before the body is read, 422 naming the field, 409, 503.

``ScoreLane`` goes one step further: an ASGI middleware, innermost of the app's own, that hands
``POST /v1/score`` to that handler directly. Starlette's router and FastAPI's per-route
wrappers (request-scoped exit stacks, a wrapped ``send`` per layer) cost ~15% of a decision's CPU
under load (py-spy) and do nothing this route needs: it has no path parameters and no
dependencies, and its errors go through Starlette's exception middleware with the app's own
handlers, as on the routed path. Every other request, and the middleware outside (request id,
access log, metrics, CORS, body limit), is unchanged.

``ScoreFirst`` sends ``POST /v1/score`` into the app's own middleware (request id, access log,
metrics, CORS, body limit, then ``ScoreLane``) ahead of the three layers FastAPI puts outside
them: Starlette's ``ServerErrorMiddleware``, FastAPI's exception telemetry and its app-wide body
limit. None of them acts on this route: ``RequestContextMiddleware`` answers every exception
itself (a generic 500), so none reaches the first two, and the app sets no ``max_body_size`` for
the third (its own ``BodyLimitMiddleware`` is the limit). Measured: ~1.5 % fewer instructions
per decision (callgrind) and ~3 % less server CPU in the service A/B (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frisk.errors import FriskError, InvalidEventError
from frisk.schema import Transaction
from frisk.service.auth import Permission, ScorerKey, authenticate, authorise, charge
from frisk.service.deps import ScorerDep, ServiceState, StateDep
from frisk.service.errors import BatchStoppedError
from frisk.service.schemas import DecisionPublic, ErrorPublic, decision_body

__all__ = ["ScoreFirst", "ScoreLane", "ScoreRoute", "parse_transaction", "router"]

router = APIRouter(prefix="/v1", tags=["scoring"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 409, 413, 422, 429, 503)
}
_TRANSACTION = TypeAdapter(Transaction)


class ScoreRoute(APIRoute):
    """The route of ``score`` below, answered by a handler that skips FastAPI's generic work."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def handler(request: Request) -> Response:
            key = authorise(await authenticate(request), Permission.SCORE)
            txn = parse_transaction(await request.body(), request.headers.get("content-type"))
            state: ServiceState = request.app.state.frisk
            return await score(txn, state.scorer, key)

        return handler


class ScoreLane:
    """``POST /v1/score`` straight to ``ScoreRoute``'s handler; anything else to ``app``.

    An error of the handler is answered by Starlette's own ``ExceptionMiddleware``, given the
    app's handlers as Starlette's middleware stack gives them (all but the ``500``/``Exception``
    one, which belongs to the outermost error middleware): exactly as on the routed path. The
    middleware is entered only for an error (the handler's exception raised again inside it):
    around every decision its request object, closures and wrapped ``send`` cost ~2 % of the
    instructions a decision, and the answer is sent only once nothing can fail before it.
    """

    def __init__(self, app: ASGIApp, route: APIRoute, exception_handlers: dict[Any, Any]) -> None:
        self.app = app
        self.route = route
        self.path = route.path
        self.handler = route.get_route_handler()
        # Built when Starlette builds the middleware stack, at the first request, as its own
        # exception middleware is: every handler added before then counts.
        handlers = {k: v for k, v in exception_handlers.items() if k not in (500, Exception)}
        self.errors = ExceptionMiddleware(_raise_lane_error, handlers=handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or _path(scope) != self.path:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # as the router sets it: metrics and logs name the route
        try:
            start, body = await self._answer(scope, receive, send)
        except Exception as exc:
            scope[_LANE_ERROR] = exc
            await self.errors(scope, receive, send)
            return
        await send(start)
        await send(body)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> tuple[Message, Message]:
        # ScoreRoute's handler without Starlette's body stream and Response object: the same
        # steps in the same order, the same bytes out (``test_score_route``).
        request = Request(scope, receive, send)
        authorise(await authenticate(request), Permission.SCORE)
        txn = parse_transaction(await _read_body(receive), request.headers.get("content-type"))
        state: ServiceState = request.app.state.frisk
        scored = await state.scorer.decide_async(txn)
        body = orjson.dumps(decision_body(scored.record))
        # In Starlette's order: the route's own headers, then the length and the media type.
        headers = [_REPLAYED] if scored.replayed else []
        headers += [(b"content-length", b"%d" % len(body)), _JSON]
        return (
            {"type": "http.response.start", "status": 200, "headers": headers},
            {"type": "http.response.body", "body": body},
        )


class ScoreFirst:
    """``POST /v1/score`` into the app's own middleware, ahead of FastAPI's outer layers
    (``stack``, which answers everything else); see the module docstring.

    ``middleware`` is the app's (``FastAPI.user_middleware``), ``ScoreLane`` innermost: built
    once more over ``stack``, as Starlette builds them, for this route alone.
    """

    def __init__(self, stack: ASGIApp, middleware: Sequence[Middleware]) -> None:
        self.stack = stack
        innermost = middleware[-1] if middleware else None
        route = None if innermost is None else innermost.kwargs.get("route")
        if innermost is None or innermost.cls is not cast(Any, ScoreLane) or route is None:
            raise RuntimeError("ScoreFirst needs ScoreLane as the app's innermost middleware")
        self.path: str = cast(APIRoute, route).path
        lane: ASGIApp = stack  # ScoreLane's way on for anything else: never taken from here
        for cls, args, kwargs in reversed(middleware):
            lane = cls(lane, *args, **kwargs)
        self.lane = lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and _path(scope) == self.path:
            await self.lane(scope, receive, send)
        else:
            await self.stack(scope, receive, send)


async def score(txn: Transaction, scorer: ScorerDep, _key: ScorerKey) -> Response:
    """Decide one transaction; a retry with the same id and body returns the recorded decision."""
    scored = await scorer.decide_async(txn)
    headers = {"Idempotent-Replayed": "true"} if scored.replayed else None
    body = orjson.dumps(decision_body(scored.record))
    return Response(body, media_type="application/json", headers=headers)


router.add_api_route(
    "/score",
    score,
    methods=["POST"],
    response_model=DecisionPublic,
    responses=_ERRORS,
    route_class_override=ScoreRoute,
)


@router.post("/score/batch", response_model=list[DecisionPublic], responses=_ERRORS)
def score_batch(
    txns: list[Transaction], scorer: ScorerDep, state: StateDep, key: ScorerKey
) -> list[DecisionPublic]:
    """Decide transactions in the order given; each is recorded (and retried) on its own."""
    limit = state.settings.api.max_batch
    if not txns or len(txns) > limit:
        raise InvalidEventError("body", len(txns), f"a batch holds 1 to {limit} transactions")
    charge(state, key, len(txns) - 1)  # the key already paid one token to get here
    done: list[DecisionPublic] = []
    for index, txn in enumerate(txns):
        try:
            done.append(DecisionPublic.from_record(scorer.decide(txn).record))
        except FriskError as exc:  # say what the items before it did
            raise BatchStoppedError(exc, index, [d.transaction_id for d in done]) from exc
    return done


def parse_transaction(body: bytes, content_type: str | None) -> Transaction:
    """The request body as a ``Transaction``, or the ``RequestValidationError`` FastAPI raises.

    Parsed and validated in one pass by pydantic-core. As with FastAPI, a body is JSON when its
    media type is ``application/json`` or ``application/*+json``; anything else is refused.
    """
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    if not _is_json(content_type):
        raise RequestValidationError(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "a JSON object is expected (Content-Type: application/json)",
                    "input": None,
                }
            ]
        )
    try:
        return _TRANSACTION.validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


_REPLAYED = (b"idempotent-replayed", b"true")
# The scope key that carries a lane's error into its exception middleware (taken out again).
_LANE_ERROR = "frisk.score_lane_error"


async def _raise_lane_error(scope: Scope, receive: Receive, send: Send) -> None:
    """The app inside ``ScoreLane.errors``: raises the handler's error where Starlette's exception
    middleware answers it as it answers a route's."""
    raise scope.pop(_LANE_ERROR)


_JSON = (b"content-type", b"application/json")


async def _read_body(receive: Receive) -> bytes:
    """The request body, as ``Request.body`` reads it (``ClientDisconnect`` if the client left)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def _path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))
