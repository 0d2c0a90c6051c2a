"""Faults of a Redis state store: unreachable, silent, read-only. Each raises one
``StateUnavailable`` (within the configured timeouts: a silent server does not hang the caller)
and leaves nothing half-applied. The servers here are started by the tests, on free 127.0.0.1
ports, and stopped by them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from frisk.errors import StateUnavailable
from frisk.features import OnlineFeatures, resolve_catalogue
from frisk.features.stores.redis import RedisStore

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _finishes(call: Callable[[], Any], seconds: float = 60.0) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised. Fails the test if it hangs."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test's thread
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the call hung past its timeouts"
    return raised[0] if raised else None


def test_an_unreachable_redis_is_state_unavailable() -> None:
    port = _free_port()  # nothing listens there
    raised = _finishes(
        lambda: RedisStore.connect(f"redis://127.0.0.1:{port}/0", connect_timeout=0.5)
    )
    assert isinstance(raised, StateUnavailable)
    assert f"127.0.0.1:{port}" in str(raised)


def test_a_silent_redis_is_state_unavailable_within_the_timeout() -> None:
    with socket.socket() as server:  # accepts connections and never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        raised = _finishes(
            lambda: RedisStore.connect(
                f"redis://127.0.0.1:{port}/0", connect_timeout=0.5, timeout=0.3
            )
        )
    assert isinstance(raised, StateUnavailable)
    assert "unavailable" in str(raised)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[int]:
    """A redis-server of this test on a free port; its port."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is not installed; CI=true, so a missing service fails")
        pytest.skip("redis-server is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_read_only_redis_is_state_unavailable_and_nothing_is_half_applied(
    own_redis: int,
) -> None:
    url = f"redis://127.0.0.1:{own_redis}/0"
    store = RedisStore.connect(url, key_prefix="frisk-ro", timeout=10.0)
    catalogue = resolve_catalogue("default")
    online = OnlineFeatures(catalogue, store)
    event = {
        "transaction_id": "t0",
        "timestamp": T0,
        "amount": 10.0,
        "currency": "EUR",
        "payer_id": "p1",
        "payee_id": "m1",
        "device_id": "d1",
    }
    online.update(event)
    before = sorted(store.client.keys("frisk-ro:*"))
    snapshot = {key: store.client.dump(key) for key in before}
    # Turn the server into a read-only replica of a master that does not exist.
    store.client.execute_command("REPLICAOF", "127.0.0.1", str(_free_port()))
    later = {**event, "transaction_id": "t1", "timestamp": T0 + timedelta(minutes=1)}
    raised = _finishes(lambda: online.update(later))
    assert isinstance(raised, StateUnavailable)
    assert "READONLY" in str(raised) or "read only" in str(raised).lower()
    assert sorted(store.client.keys("frisk-ro:*")) == before
    assert {key: store.client.dump(key) for key in before} == snapshot
    store.close()


def test_a_server_that_lost_its_scripts_never_takes_an_event_twice(own_redis: int) -> None:
    """The snapshots waiting go in the event's own script call. A server that lost its scripts
    answers NOSCRIPT without running anything; the store loads them and sends the event (with
    its snapshots) again, once: each event counted once, every feature exact."""
    from frisk.features import compute_offline
    from frisk.features.testing import hot_payee_events, mismatches, to_frame

    store = RedisStore.connect(f"redis://127.0.0.1:{own_redis}/0", key_prefix="frisk-ns")
    table, _ = hot_payee_events(8, 240, payers=6)
    table = table.with_columns(
        pl.lit(None, dtype=table.schema["label"]).alias("label"),
        pl.lit(None, dtype=table.schema["label_timestamp"]).alias("label_timestamp"),
    )
    catalogue = resolve_catalogue("default", table)
    online = OnlineFeatures(catalogue, store)
    flushed = 0
    vectors = []
    for event in table.iter_rows(named=True):
        if store._snapshots and flushed < 3:  # a snapshot goes with this event
            store.client.script_flush()
            flushed += 1
        vectors.append(online.update(event))
    assert flushed == 3
    got = to_frame(table.get_column("transaction_id"), vectors, catalogue)
    assert mismatches(compute_offline(table, catalogue), got, 1e-9) == []
    store.close()
