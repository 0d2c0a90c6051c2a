"""``GatheringTransport``: the writes of one event-loop step go out as one, nothing lost."""

from __future__ import annotations

import asyncio
from typing import Any

from frisk.service.http_writes import GatheringTransport


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.events.append("write")

    def close(self) -> None:
        self.events.append("close")

    def write_eof(self) -> None:
        self.events.append("eof")

    def abort(self) -> None:
        self.events.append("abort")

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


def _gathering(loop: asyncio.AbstractEventLoop) -> tuple[GatheringTransport, RecordingTransport]:
    inner = RecordingTransport()
    return GatheringTransport(inner, loop), inner  # type: ignore[arg-type]


async def _next_step() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_writes_of_one_step_are_sent_as_one_in_order() -> None:
    async def main() -> RecordingTransport:
        gathering, inner = _gathering(asyncio.get_running_loop())
        gathering.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        gathering.write(b"ok")
        assert inner.writes == []  # held until the step ends
        await _next_step()
        gathering.write(b"next")
        await _next_step()
        return inner

    inner = asyncio.run(main())
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", b"next"]


def test_close_and_eof_send_what_is_held_first() -> None:
    async def main() -> tuple[RecordingTransport, RecordingTransport]:
        loop = asyncio.get_running_loop()
        closing, closed = _gathering(loop)
        closing.write(b"head")
        closing.writelines([b"-", b"body"])
        closing.close()
        ending, ended = _gathering(loop)
        ending.write(b"last")
        ending.write_eof()
        await _next_step()  # the scheduled flush finds nothing left to send
        return closed, ended

    closed, ended = asyncio.run(main())
    assert closed.writes == [b"head-body"]
    assert closed.events == ["write", "close"]
    assert ended.writes == [b"last"]
    assert ended.events == ["write", "eof"]


def test_abort_drops_what_is_held_and_the_buffer_size_counts_it() -> None:
    async def main() -> RecordingTransport:
        gathering, inner = _gathering(asyncio.get_running_loop())
        inner.buffered = 10
        gathering.write(b"12345")
        assert gathering.get_write_buffer_size() == 15
        gathering.abort()
        assert gathering.get_write_buffer_size() == 10
        await _next_step()
        return inner

    inner = asyncio.run(main())
    assert inner.writes == []
    assert inner.events == ["abort"]


def test_everything_else_is_the_wrapped_transports() -> None:
    async def main() -> None:
        gathering, _ = _gathering(asyncio.get_running_loop())
        assert gathering.get_extra_info("peername") == ("127.0.0.1", 5)
        assert gathering.get_extra_info("socket") is None

    asyncio.run(main())
