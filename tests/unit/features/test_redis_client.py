"""Redis clients of the shared state: a thread that finds every connection in use waits for one
(within the request timeout) instead of failing at once; commands are packed by hiredis in one
call, byte for byte as redis-py packs them."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.connection import Connection
from redis.exceptions import DataError

from frisk.features.stores.redis_client import HiredisPacker, open_client

REDIS_URL = os.environ.get("FRISK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_more_threads_than_connections_wait_for_one(
    require_service: Callable[[str, str, int], None],
) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    client = open_client(REDIS_URL, cluster=False, connect_timeout=1.0, timeout=5.0, pool_size=2)
    key = f"frisk-test-pool-{uuid.uuid4().hex[:8]}"
    failures: list[BaseException] = []
    done: list[int] = []

    def hold(i: int) -> None:
        try:
            # each holds its connection ~50 ms, server side: eight threads, two connections
            client.blpop([key], timeout=0.05)
            done.append(i)
        except BaseException as exc:  # reported in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert failures == []
    assert sorted(done) == list(range(8))


_ARGUMENT = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)


def _redis_py(*args: Any) -> bytes:
    """The bytes redis-py's own packer sends for ``args``."""
    connection: Any = Connection  # untyped in redis-py
    return b"".join(bytes(chunk) for chunk in connection().pack_command(*args))


@given(st.lists(_ARGUMENT, max_size=12))
def test_hiredis_packer_sends_what_redis_py_sends(args: list[Any]) -> None:
    for command in ("EVALSHA", "SCRIPT LOAD", b"SET"):
        assert b"".join(HiredisPacker().pack(command, *args)) == _redis_py(command, *args)


def test_hiredis_packer_refuses_what_redis_py_refuses() -> None:
    with pytest.raises(DataError):
        HiredisPacker().pack("SET", "k", True)
    with pytest.raises(DataError):
        HiredisPacker().pack("SET", "k", None)
    assert b"".join(HiredisPacker().pack("SET", "k", memoryview(b"ab"))) == _redis_py(
        "SET", "k", b"ab"
    )


def test_the_hot_connection_survives_error_replies_and_reconnects_after_a_failure(
    require_service: Callable[[str, str, int], None],
) -> None:
    """An error reply leaves the kept connection usable; a connection that failed is closed (a
    late reply is never read as the next command's) and the next call connects again; a second
    caller meanwhile goes through the pool."""
    import redis.exceptions

    from frisk.features.stores.redis_client import HotConnection

    require_service("Redis", "127.0.0.1", 6379)
    client = open_client(REDIS_URL, cluster=False, connect_timeout=1.0, timeout=0.2, pool_size=4)
    key = f"frisk-test-hot-{uuid.uuid4().hex[:8]}"
    hot = HotConnection(client)
    try:
        assert hot.call("SET", key, "1", "NX", "PX", 60_000) == b"OK"
        assert hot.call("SET", key, "1", "NX", "PX", 60_000) is None
        with pytest.raises(redis.exceptions.ResponseError):
            hot.call("INCR", key + "x", "not", "valid")
        assert hot.call("GET", key) == b"1"  # still in step after the error reply
        with pytest.raises(redis.exceptions.TimeoutError):
            hot.call("BLPOP", key + "-list", "1")  # answers after the 0.2 s timeout
        assert hot._connection._sock is None  # closed: its late reply is never read
        assert hot.call("GET", key) == b"1"  # connects again
        hot._lock.acquire()  # another caller holds it: this one goes through the pool
        try:
            assert hot.call("GET", key) == b"1"
        finally:
            hot._lock.release()
    finally:
        hot.close()
        client.delete(key)
        client.close()
