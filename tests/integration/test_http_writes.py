"""uvicorn with ``GatheringHttpToolsProtocol`` over real sockets: every response whole and in
order, on keep-alive, pipelined and closing connections, and with a body larger than the
socket's buffers (flow control)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from frisk.service.http_writes import GatheringHttpToolsProtocol

BIG = 4 * 1024 * 1024


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/big":
        answer = b"x" * BIG
    elif scope["path"] == "/chunked":  # no content-length: chunked, in several body messages
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one", b"two", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    else:
        answer = b"echo:" + scope["path"].encode() + b":" + body
    headers = [(b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free,
        http=GatheringHttpToolsProtocol,
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield free
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _request(path: str, body: bytes = b"", *, close: bool = False) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


def _response(reader: BinaryIO) -> tuple[bytes, dict[bytes, bytes], bytes]:
    status = reader.readline()
    headers: dict[bytes, bytes] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while size := int(reader.readline(), 16):
            body += reader.read(size)
            reader.readline()
        reader.readline()
        return status, headers, body
    return status, headers, reader.read(int(headers[b"content-length"]))


def test_keep_alive_requests_each_get_their_whole_response(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        reader = sock.makefile("rb")
        for i in range(50):
            sock.sendall(_request(f"/n{i}", b"body-%d" % i))
            status, _, body = _response(reader)
            assert status.startswith(b"HTTP/1.1 200")
            assert body == b"echo:/n%d:body-%d" % (i, i)


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"".join(_request(f"/p{i}", b"%d" % i) for i in range(10)))
        reader = sock.makefile("rb")
        assert [_response(reader)[2] for _ in range(10)] == [
            b"echo:/p%d:%d" % (i, i) for i in range(10)
        ]


def test_a_closing_request_gets_its_response_then_the_end(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_request("/bye", b"x", close=True))
        reader = sock.makefile("rb")
        status, headers, body = _response(reader)
        assert status.startswith(b"HTTP/1.1 200")
        assert headers[b"connection"] == b"close"
        assert body == b"echo:/bye:x"
        assert reader.read() == b""


def test_chunked_and_large_bodies_arrive_whole(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        reader = sock.makefile("rb")
        sock.sendall(_request("/chunked"))
        assert _response(reader)[2] == b"onetwothree"
        sock.sendall(_request("/big"))
        time.sleep(0.2)  # let the server fill the socket's buffers before reading
        assert _response(reader)[2] == b"x" * BIG
        sock.sendall(_request("/after"))
        assert _response(reader)[2] == b"echo:/after:"
