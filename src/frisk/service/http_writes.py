"""One write per response: uvicorn's HTTP protocol over a transport that gathers writes.

uvicorn writes a response's status line and headers when the app sends ``http.response.start``
and its body when the app sends ``http.response.body``: two ``send`` system calls per response,
two TCP segments, and a client woken twice. The event loop (uvloop) sends each write at once.
Under load (py-spy ``--native`` at 16 connections) the event loop's thread spent ~20 % of its
samples in ``write``.

``GatheringTransport`` holds the writes made during one step of the event loop and sends them
as one, from a callback the first of them schedules (``call_soon``): the rest of the request's
step (the access log, metrics) runs first, then the whole response goes out in one system
call. ``close``, ``write_eof`` and the write-buffer size see what is held; everything else is
the wrapped transport's.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["GatheringHttpToolsProtocol", "GatheringTransport"]


class GatheringTransport:
    """``transport``'s writes of one event-loop step sent as one (see the module docstring)."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what is held (a no-op when nothing is)."""
        held = self._held
        if not held:
            return
        self._held = []
        self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GatheringHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a ``GatheringTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        gathering = GatheringTransport(transport, self.loop)
        super().connection_made(cast(asyncio.Transport, gathering))
