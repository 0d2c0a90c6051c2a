"""Fixtures for tests that talk to a real server: uvicorn in a thread on a free port, and keys."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
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


@pytest.fixture(scope="session")
def policy_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model on the default catalogue, trained once per worker for the policy tests."""
    from frisk.data.simulator import SimulationConfig, simulate
    from frisk.models import save_model
    from frisk.models.pipeline import train_events

    root = tmp_path_factory.mktemp("policy-model")
    table = simulate(SimulationConfig(days=10, payers=300, seed=1, fraud_rate=0.03))
    save_model(train_events(table), root / "model")
    return root / "model"


@dataclass
class Served:
    """A real service on a ledger: its URL, the ledger, a key per role and the app."""

    url: str
    ledger: SqlLedger
    keys: dict[str, dict[str, str]]
    app: Any

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)


ServeModel = Callable[..., Served]


@pytest.fixture
def serve_model(
    start_server: StartServer, role_keys: RoleKeys, tmp_path: Path, policy_model_dir: Path
) -> Iterator[ServeModel]:
    """``serve_model(database_url, name="a", **settings)``: the policy model served on the ledger
    at ``database_url``, with its own home ``tmp_path / name``, rate limits off."""
    from frisk.config import load_settings
    from frisk.engine import load_engine
    from frisk.service.app import create_app
    from frisk.store import open_ledger

    opened: list[tuple[SqlLedger, Any, ThreadedServer]] = []

    def start(database_url: str, name: str = "a", **settings: Any) -> Served:
        loaded = load_settings(
            home=tmp_path / name,
            database_url=database_url,
            security={"rate_limit": {"enabled": False}},
            **settings,
        )
        ledger = open_ledger(database_url)
        engine = load_engine(policy_model_dir, None, ledger=ledger, settings=loaded)
        app = create_app(loaded, engine, ledger=ledger)
        server = start_server(app)
        opened.append((ledger, engine, server))
        return Served(server.url, ledger, role_keys(ledger), app)

    yield start
    for ledger, engine, server in opened:
        server.stop()  # first: its lifespan stops the policy poll, which uses the ledger
        engine.close()
        ledger.close()


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of a store (PostgreSQL, Redis: it knows no protocol),
    whose faults the test switches: ``refuse`` (connections refused, open ones cut), ``hang``
    (nothing forwarded either way, connections kept open), ``slow`` (each chunk delayed), ``cut``
    (the next answer cut half-way, the connection closed) and ``heal`` (forward again; what a
    hang held is delivered). It runs its own event loop in a thread."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        import asyncio

        self.upstream = (upstream_host, upstream_port)
        self.loop = asyncio.new_event_loop()
        self.mode = "pass"
        self.delay = 0.0
        self.connections = 0
        self._flowing = asyncio.Event()
        self._writers: set[Any] = set()
        self._server: Any = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port: int = sock.getsockname()[1]
        sock.close()
        self._call(self._listen)
        self._call(self._set, "pass")

    # -- control, from the test's thread ----------------------------------------------------

    def refuse(self) -> None:
        self._call(self._refuse)

    def hang(self) -> None:
        self._call(self._set, "hang")

    def slow(self, delay: float) -> None:
        self.delay = delay
        self._call(self._set, "slow")

    def cut(self) -> None:
        self._call(self._set, "cut")

    def heal(self) -> None:
        self._call(self._heal)

    def close(self) -> None:
        self._call(self._refuse)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        import asyncio

        async def run() -> None:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                await result

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    # -- on the proxy's loop -----------------------------------------------------------------

    def _set(self, mode: str) -> None:
        self.mode = mode
        if mode == "hang":
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _listen(self) -> None:
        import asyncio

        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )

    async def _refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _heal(self) -> None:
        self._set("pass")
        await self._listen()

    async def _accept(self, reader: Any, writer: Any) -> None:
        import asyncio

        self.connections += 1
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pump(reader, up_writer, writer, down=False),
            self._pump(up_reader, writer, up_writer, down=True),
            return_exceptions=True,
        )

    async def _pump(self, reader: Any, writer: Any, other: Any, *, down: bool) -> None:
        import asyncio

        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                if self.mode == "slow":
                    await asyncio.sleep(self.delay)
                if self.mode == "cut" and down:
                    writer.write(data[: max(1, len(data) // 2)])
                    await writer.drain()
                    self.mode = "pass"  # one answer cut; the next connections work
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for end in (writer, other):
                end.transport.abort()
                self._writers.discard(end)


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str, int], FaultProxy]]:
    """``fault_proxy(host, port)``: a ``FaultProxy`` to that store, closed after the test."""
    proxies: list[FaultProxy] = []

    def start(host: str, port: int) -> FaultProxy:
        proxy = FaultProxy(host, port)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()
