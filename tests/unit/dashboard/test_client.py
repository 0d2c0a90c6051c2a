"""FriskClient's error mapping (the client against the real API: tests/ui/test_client_http.py)."""

from __future__ import annotations

import socket

import httpx
import pytest

from frisk.client import (
    ApiError,
    ApiForbidden,
    ApiNotFound,
    ApiUnauthenticated,
    ApiUnavailable,
    FriskClient,
)


def answering(status: int, body: object, **headers: str) -> FriskClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return FriskClient("http://api", "k", transport=httpx.MockTransport(handler))


def error(kind: str, message: str, **extra: str) -> dict[str, str]:
    return {"error": kind, "message": message, "request_id": "req-1", **extra}


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (401, "unauthenticated", ApiUnauthenticated),
        (403, "forbidden", ApiForbidden),
        (404, "not_found", ApiNotFound),
        (409, "conflict", ApiError),
        (503, "not_ready", ApiError),
    ],
)
def test_each_status_has_its_error(status: int, kind: str, expected: type[ApiError]) -> None:
    client = answering(status, error(kind, "why"))
    with pytest.raises(expected) as raised:
        client.stats()
    assert type(raised.value) is expected
    assert (raised.value.status, raised.value.error, raised.value.message) == (status, kind, "why")
    assert raised.value.request_id == "req-1"
    assert raised.value.route == "GET /v1/stats"


def test_a_missing_route_is_told_from_a_missing_resource() -> None:
    with pytest.raises(ApiNotFound) as route:
        answering(404, error("not_found", "Not Found")).drift()
    assert route.value.route_missing
    with pytest.raises(ApiNotFound) as resource:
        answering(404, error("not_found", "no decision for transaction 'x'")).decision("x")
    assert not resource.value.route_missing


def test_invalid_input_names_the_field() -> None:
    with pytest.raises(ApiError) as raised:
        answering(422, error("invalid_input", "amount: must be > 0", field="amount")).score({})
    assert raised.value.field == "amount"


def test_rate_limits_carry_retry_after() -> None:
    client = answering(429, error("rate_limited", "slow down"), **{"Retry-After": "3"})
    with pytest.raises(ApiError) as raised:
        client.score({})
    assert (raised.value.status, raised.value.retry_after) == (429, 3.0)


def test_a_gateway_error_without_a_frisk_body_means_the_api_is_down() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="Bad Gateway")

    client = FriskClient("http://api", "k", transport=httpx.MockTransport(handler))
    with pytest.raises(ApiUnavailable):
        client.stats()


def test_ids_are_escaped_into_one_path_segment() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={})

    FriskClient("http://api", "k", transport=httpx.MockTransport(handler)).decision("a/b?c")
    assert seen == ["/v1/decisions/a%2Fb%3Fc"]


def test_an_api_that_does_not_answer_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with (
            FriskClient(f"http://127.0.0.1:{port}", "k", timeout=2.0) as client,
            pytest.raises(ApiUnavailable) as down,
        ):
            client.health()
    assert f"127.0.0.1:{port}" in down.value.message
