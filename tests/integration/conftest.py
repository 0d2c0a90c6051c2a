"""Fixtures for tests that talk to a real server: uvicorn in a thread on a free port, and keys."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from frisk.service.keys import create_key
from frisk.store import Role, SqlLedger, default_url

StartServer = Callable[[Any], "ThreadedServer"]
RoleKeys = Callable[[SqlLedger], dict[str, dict[str, str]]]


@dataclass
class ThreadedServer:
    """A uvicorn server running ``app`` in a daemon thread; ``stop`` may be called twice."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket
    stopped: bool = field(default=False)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """``start_server(app)``: serve it on a free 127.0.0.1 port; stopped after the test."""
    started: list[ThreadedServer] = []

    def start(app: Any) -> ThreadedServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_config=None, log_level="warning", ws="none", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        running = ThreadedServer(f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread, sock)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each ledger back end in turn: an SQLite file, then a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return default_url(tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def role_keys() -> RoleKeys:
    """``role_keys(ledger)``: a new key for every role, as request headers by role name."""

    def keys(ledger: SqlLedger) -> dict[str, dict[str, str]]:
        return {
            role.value: {"X-API-Key": create_key(ledger, role, role.value, actor="test")[0]}
            for role in Role
        }

    return keys
