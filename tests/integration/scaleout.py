"""Real ``frisk serve`` processes for the scale-out tests: a supervisor with N workers, or several
instances on different 127.0.0.1 ports, sharing one PostgreSQL ledger and one Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from frisk.service.keys import create_key
from frisk.store import Role, open_ledger

REDIS_URL = os.environ.get("FRISK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FRISK = str(Path(sys.executable).with_name("frisk"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    """One ``frisk serve`` (a supervisor and its workers, or a single process) on a port."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    stopped: bool = field(default=False)

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **options)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"frisk serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"frisk serve not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to the supervisor (it stops its workers); the session's group if it hangs."""
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def worker_pids(self) -> list[int]:
        """The supervisor's live children (its workers)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(p) for p in children.read_text().split()]
        return [p for p in pids if _is_worker(p)]


def _is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in cmdline  # not multiprocessing's resource tracker


@dataclass
class Cluster:
    """The shared parts: a ledger URL, a Redis prefix, keys, a model; ``start`` adds nodes."""

    database_url: str
    prefix: str
    model: Path
    home: Path
    keys: dict[str, dict[str, str]]
    nodes: list[Node] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            FRISK_HOME=str(self.home),
            FRISK_DATABASE_URL=self.database_url,
            FRISK_STATE__URL=REDIS_URL,
            FRISK_STATE__KEY_PREFIX=self.prefix,
            FRISK_STATE__TIMEOUT="5",
            FRISK_MONITORING__REGISTRY_POLL_SECONDS="0.5",
            FRISK_POLICY__POLL_SECONDS="0.5",
            FRISK_SECURITY__KEY_CACHE_SECONDS="0.5",
        )
        env.update(extra)
        return env

    def start(self, *args: str, wait: bool = True, **env: str) -> Node:
        port = free_port()
        log = self.home / f"serve-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [FRISK, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                env=self.env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node = Node(f"http://127.0.0.1:{port}", process, log)
        self.nodes.append(node)
        if wait:
            node.wait_ready()
        return node


@pytest.fixture
def cluster(
    postgres_url: str,
    policy_model_dir: Path,
    tmp_path: Path,
    require_service: Callable[[str, str, int], None],
) -> Iterator[Cluster]:
    """Shared PostgreSQL (a fresh schema) and Redis (a fresh prefix, deleted after)."""
    from frisk.features.stores.redis import RedisStore

    require_service("Redis", "127.0.0.1", 6379)
    prefix = f"frisk-test-scale-{uuid.uuid4().hex[:10]}"
    ledger = open_ledger(postgres_url)
    try:
        keys = {
            role.value: {"X-API-Key": create_key(ledger, role, role.value, actor="test")[0]}
            for role in Role
        }
    finally:
        ledger.close()
    home = tmp_path / "home"
    home.mkdir()
    made = Cluster(postgres_url, prefix, policy_model_dir, home, keys)
    try:
        yield made
    finally:
        for node in made.nodes:
            node.stop()
        store = RedisStore.connect(REDIS_URL, key_prefix=prefix)
        store.clear()
        store.close()


#: payments of a test run start here: recent, so they lie in the live window
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def payment(transaction_id: str, payer: str, minutes: float = 0.0, **fields: Any) -> dict[str, Any]:
    """A live payment (near the server's clock), ``minutes`` after ``START``."""
    body: dict[str, Any] = {
        "transaction_id": transaction_id,
        "timestamp": (START + timedelta(minutes=minutes)).isoformat(),
        "amount": 42.5,
        "currency": "EUR",
        "payer_id": payer,
        "payee_id": "shop-1",
        "device_id": f"dev-{payer}",
    }
    body.update(fields)
    return body


@dataclass
class OwnRedis:
    """A redis-server of the test's own on a free 127.0.0.1 port: stop it, start it again."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = OwnRedis(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
