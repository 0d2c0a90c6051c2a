"""The lean POST /v1/score route keeps the contract of a plain FastAPI route, piece by piece."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from frisk.service.schemas import DecisionPublic, decision_body
from frisk.store import DecisionRecord

Body = Callable[..., dict[str, Any]]
Keys = dict[str, dict[str, str]]

_NUMBER = st.floats(allow_nan=False, allow_infinity=False)
_REASON = st.fixed_dictionaries(
    {
        "feature": st.text(max_size=20),
        "value": st.none() | st.text(max_size=10) | _NUMBER | st.integers(-(2**40), 2**40),
        "contribution": _NUMBER | st.integers(-1000, 1000),
        "sentence": st.text(max_size=40),
    }
)


@given(
    score=st.floats(0, 1),
    risk_score=st.integers(0, 100),
    reasons=st.lists(_REASON, max_size=4),
    timings=st.dictionaries(st.sampled_from(["features", "model", "total"]), _NUMBER),
    degraded=st.booleans(),
)
def test_the_response_body_is_what_decision_public_dumps(
    score: float, risk_score: int, reasons: list[dict[str, Any]], timings: dict[str, float],
    degraded: bool,
) -> None:  # fmt: skip
    now = datetime.now(UTC)
    record = DecisionRecord(
        transaction_id="t-1", body_hash="h", event_time=now, transaction={}, features={},
        score=score, risk_score=risk_score, tier="low", action="allow", reasons=reasons,
        model_version="m", timings=timings, created_at=now, degraded=degraded,
    )  # fmt: skip
    body = decision_body(record)
    assert set(body) == set(DecisionPublic.model_fields)
    # A fixed point of the response model: validating and dumping it changes nothing, so the
    # bytes the route writes are those FastAPI would have written for DecisionPublic.
    assert DecisionPublic.model_validate(body).model_dump(mode="json") == body
    assert orjson.loads(orjson.dumps(body)) == body


def test_the_openapi_is_derived_from_the_endpoint(client: TestClient, keys: Keys) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/score"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Transaction"
    }
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/DecisionPublic"}
    for code in ("401", "403", "409", "413", "422", "429", "503"):
        assert operation["responses"][code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorPublic"
        }


def test_the_key_is_checked_before_the_body_is_read(
    client: TestClient, keys: Keys, amount_engine: Any
) -> None:
    bad = {"Content-Type": "application/json"}
    assert client.post("/v1/score", content=b"{nope", headers=bad).status_code == 401
    r = client.post("/v1/score", content=b"{nope", headers={**bad, **keys["analyst"]})
    assert r.status_code == 403
    assert amount_engine.calls == 0


def test_bodies_that_are_not_a_json_transaction_are_422_naming_the_body(
    client: TestClient, keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    scorer = keys["scorer"]
    cases = [
        (b"", "application/json"),
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (orjson.dumps(txn_body()), "text/plain"),
        (orjson.dumps(txn_body()), None),
    ]
    for content, media in cases:
        headers = {**scorer, **({"Content-Type": media} if media else {})}
        r = client.post("/v1/score", content=content, headers=headers)
        assert r.status_code == 422, (content, media, r.text)
        assert r.json()["field"] == "body", r.json()
        assert r.json()["request_id"] == r.headers["X-Request-ID"]
    r = client.post("/v1/score", json={**txn_body(), "surprise": 1}, headers=scorer)
    assert (r.status_code, r.json()["field"]) == (422, "surprise")
    r = client.post("/v1/score", json={**txn_body(), "extra": {"x": [1]}}, headers=scorer)
    assert r.status_code == 422
    assert r.json()["field"].startswith("extra.x"), r.json()
    assert amount_engine.calls == 0


def test_json_media_types_with_parameters_or_suffixes_are_read(
    client: TestClient, keys: Keys, txn_body: Body
) -> None:
    for i, media in enumerate(
        ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"]
    ):
        body = orjson.dumps(txn_body(f"m-{i}"))
        r = client.post(
            "/v1/score", content=body, headers={**keys["scorer"], "Content-Type": media}
        )
        assert r.status_code == 200, (media, r.text)
        assert r.headers["content-type"] == "application/json"


def test_a_replay_says_so_in_a_header(client: TestClient, keys: Keys, txn_body: Body) -> None:
    first = client.post("/v1/score", json=txn_body("r-1"), headers=keys["scorer"])
    assert "Idempotent-Replayed" not in first.headers
    again = client.post("/v1/score", json=txn_body("r-1"), headers=keys["scorer"])
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_the_lane_answers_scores_without_the_router_and_leaves_the_rest_to_it(
    client: TestClient, keys: Keys, txn_body: Body, monkeypatch: Any
) -> None:
    router = type(client.app.router)  # type: ignore[attr-defined]
    routed: list[tuple[str, str]] = []
    original = router.__call__

    async def spy(self: Any, scope: Any, receive: Any, send: Any) -> None:
        routed.append((scope["method"], scope["path"]))
        await original(self, scope, receive, send)

    monkeypatch.setattr(router, "__call__", spy)
    scorer = keys["scorer"]
    assert client.post("/v1/score", json=txn_body("lane-1"), headers=scorer).status_code == 200
    assert client.post("/v1/score", json={"amount": 1}, headers=scorer).status_code == 422
    assert client.post("/v1/score", json=txn_body("lane-2")).status_code == 401
    assert routed == []
    # Other methods and paths are routed as before: a 405, and the batch route.
    assert client.get("/v1/score", headers=scorer).status_code == 405
    batch = client.post("/v1/score/batch", json=[txn_body("lane-3")], headers=scorer)
    assert batch.status_code == 200
    assert routed == [("GET", "/v1/score"), ("POST", "/v1/score/batch")]
    # The lane names the route for the metrics and the access log, as the router does.
    metrics = client.get("/metrics", headers=keys["admin"]).text
    assert 'frisk_http_requests_total{method="POST",route="/v1/score",status="200"}' in metrics


def test_an_unexpected_error_in_the_lane_is_a_generic_500(
    make_client: Callable[..., TestClient], keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    def broken(txn: Any) -> Any:
        raise RuntimeError("the engine fell over")

    amount_engine.decide = broken
    r = make_client().post("/v1/score", json=txn_body("boom"), headers=keys["scorer"])
    assert r.status_code == 500
    assert r.json()["error"] == "internal"
    assert "fell over" not in r.text
    assert r.json()["request_id"] == r.headers["X-Request-ID"]


def test_the_lane_answers_errors_with_the_apps_handlers_as_routing_does(
    make_client: Callable[..., TestClient], keys: Keys, txn_body: Body, amount_engine: Any
) -> None:
    class Teapot(Exception):
        pass

    def sync_handler(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse({"custom": True}, status_code=499)

    async def by_status(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse({"by_status": True}, status_code=418)

    def decide(txn: Any) -> Any:
        if txn.amount == 1.0:
            raise Teapot
        raise HTTPException(418)

    client = make_client()
    client.app.add_exception_handler(Teapot, sync_handler)  # type: ignore[attr-defined]
    client.app.add_exception_handler(418, by_status)  # type: ignore[attr-defined]
    amount_engine.decide = decide
    scorer = keys["scorer"]
    r = client.post("/v1/score", json=txn_body("h-1", amount=1.0), headers=scorer)
    assert (r.status_code, r.json()) == (499, {"custom": True})
    r = client.post("/v1/score", json=txn_body("h-2", amount=2.0), headers=scorer)
    assert (r.status_code, r.json()) == (418, {"by_status": True})


def test_scores_skip_fastapis_outer_layers_and_keep_the_apps_own_middleware(
    make_client: Callable[..., TestClient], keys: Keys, txn_body: Body, monkeypatch: Any
) -> None:
    from starlette.middleware.errors import ServerErrorMiddleware

    outer: list[str] = []
    original = ServerErrorMiddleware.__call__

    async def spy(self: Any, scope: Any, receive: Any, send: Any) -> None:
        outer.append(scope.get("path", scope["type"]))
        await original(self, scope, receive, send)

    monkeypatch.setattr(ServerErrorMiddleware, "__call__", spy)
    client = make_client(security={"cors": {"allow_origins": ["https://dash.example"]}})
    scorer = {**keys["scorer"], "Origin": "https://dash.example"}
    r = client.post("/v1/score", json=txn_body("first-1"), headers=scorer)
    assert r.status_code == 200
    # The app's own middleware still ran: CORS, the request id, the body limit.
    assert r.headers["access-control-allow-origin"] == "https://dash.example"
    assert r.headers["X-Request-ID"]
    big = client.post(
        "/v1/score",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={**scorer, "Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert "/v1/score" not in outer
    # Everything else still goes through FastAPI's whole stack.
    assert client.get("/v1/score", headers=scorer).status_code == 405
    assert outer.count("/v1/score") == 1


def test_the_lane_writes_the_headers_a_starlette_response_would(
    client: TestClient, keys: Keys, txn_body: Body
) -> None:
    from starlette.responses import Response

    first = client.post("/v1/score", json=txn_body("raw-1"), headers=keys["scorer"])
    again = client.post("/v1/score", json=txn_body("raw-1"), headers=keys["scorer"])
    for r, replayed in ((first, False), (again, True)):
        # What the route answered with before: the same body in a Starlette Response.
        expected = Response(
            orjson.dumps(r.json()),
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"} if replayed else None,
        )
        raw = [(k.lower(), v) for k, v in r.headers.raw if k.lower() != b"x-request-id"]
        assert raw == expected.raw_headers
        assert r.content == expected.body
