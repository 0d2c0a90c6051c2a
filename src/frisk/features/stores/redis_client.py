"""One way to open a Redis client for Frisk's shared state, claims and rate limits.

Every client Frisk opens on Redis (the feature state, the claims on transaction ids, the rate
limits' buckets) is opened here, the same way:

- no silent retries: a request that timed out may have run (a label queued twice would count
  twice, a SET NX retried would find its own claim); a failure goes to the caller;
- a *blocking* pool of ``pool_size`` connections: a thread that finds every connection in use
  waits for one, up to the request timeout, instead of failing at once. A worker runs decisions
  in a pool of threads, more of them than connections, and an exhausted non-blocking pool
  answered "Too many connections" (a 503) under load;
- on one Redis, commands packed by hiredis in one call (``HiredisPacker``): redis-py encodes
  each argument in Python first, ~1.5 µs an argument here, and an event's script has ~50;
- on a Redis Cluster, the same per node.

``HotConnection``: the command sent on every event (one Redis) goes on one connection kept out
of the pool, straight to the socket: redis-py's path through the pool and its wrappers costs
~40 µs a command here (a round trip on a held connection ~58 µs, through ``execute_command``
~100 µs).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import hiredis
import redis
import redis.cluster
from redis._parsers.encoders import Encoder
from redis.backoff import NoBackoff
from redis.connection import PythonRespSerializer
from redis.exceptions import ResponseError
from redis.retry import Retry

from frisk.config import StateSettings

__all__ = ["HiredisPacker", "HotConnection", "client_for", "open_client"]

# redis-py's own packer and encoder (untyped), for what hiredis does not pack
_PYTHON_PACKER: Any = PythonRespSerializer
_ENCODER: Any = Encoder


class HiredisPacker:
    """A connection's command packer: the whole command to hiredis's ``pack_command`` at once.

    redis-py's own packer hands hiredis arguments it has encoded one by one in Python (its
    ``Encoder``); hiredis encodes str (UTF-8, as redis-py's default), bytes, int and float
    itself. Anything else (a bool, None, a memoryview, ...) goes to redis-py's pure-Python
    packer, so its errors (``DataError`` for a bool) are redis-py's own.
    """

    __slots__ = ("_fallback",)

    def __init__(self) -> None:
        self._fallback: Any = _PYTHON_PACKER(6000, _ENCODER("utf-8", "strict", False).encode)

    def pack(self, *args: Any) -> list[bytes]:
        first = args[0]
        # a command name of several words ("SCRIPT LOAD") is several arguments, as in redis-py
        if isinstance(first, str):
            if " " in first:
                args = (*first.encode().split(), *args[1:])
        elif isinstance(first, bytes) and b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            packed: list[bytes] = self._fallback.pack(*args)
            return packed


class HotConnection:
    """One connection taken from a client's pool and kept, for the command a process sends
    most: packed, sent and its reply read on the socket, without the pool's check-out and
    check-in and redis-py's wrappers around each command. One caller at a time uses it; another
    meanwhile (a thread) goes through the client as usual, and so does every caller on a Redis
    Cluster (its commands go to the node of their key). A connection error or timeout closes it
    (the next call connects again) and goes to the caller; a reply that is an error
    (``ResponseError``) leaves it usable. In a forked child it is never used: the child takes
    its own.
    """

    __slots__ = ("_client", "_connection", "_kept", "_lock", "_pid")

    def __init__(self, client: Any) -> None:
        self._client = client
        self._kept = not isinstance(client, redis.cluster.RedisCluster)
        self._connection: Any = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def call(self, *args: Any) -> Any:
        """The reply of the command ``args``; on the kept connection the raw reply, without
        redis-py's response callback (EVALSHA has none; SET's answers True for "OK")."""
        if not self._kept or not self._lock.acquire(blocking=False):
            return self._client.execute_command(*args)
        try:
            connection = self._connection
            if connection is None or self._pid != os.getpid():
                self._pid = os.getpid()
                connection = self._connection = self._client.connection_pool.get_connection()
            try:
                connection.send_packed_command(connection.pack_command(*args), check_health=False)
                return connection.read_response()
            except ResponseError:
                raise
            except BaseException:
                connection.disconnect()  # a reply may still be on its way: never read it later
                raise
        finally:
            self._lock.release()

    def close(self) -> None:
        """Give the connection back to the pool (before the client is closed)."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._client.connection_pool.release(self._connection)
            self._connection = None


def open_client(
    url: str, *, cluster: bool, connect_timeout: float, timeout: float, pool_size: int
) -> Any:
    """A ``redis.Redis`` (or ``redis.cluster.RedisCluster`` with ``cluster``) on ``url``; driver
    errors are the caller's to translate."""
    options: dict[str, Any] = {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": timeout,
        "max_connections": pool_size,
        "retry": Retry(NoBackoff(), 0),
    }
    if cluster:
        # BlockingConnectionPool's own ``timeout``: the longest wait for a free connection
        return redis.cluster.RedisCluster.from_url(
            url, connection_pool_class=redis.BlockingConnectionPool, timeout=timeout, **options
        )
    options["command_packer"] = HiredisPacker()  # a cluster's nodes take redis-py's own
    pool = redis.BlockingConnectionPool.from_url(url, timeout=timeout, **options)
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # close() closes the pool too, as from_url's does
    return client


def client_for(settings: StateSettings) -> Any:
    """``open_client`` on the Redis ``settings`` name (``FRISK_STATE__*``)."""
    return open_client(
        settings.url.strip(),
        cluster=settings.cluster,
        connect_timeout=settings.connect_timeout,
        timeout=settings.timeout,
        pool_size=settings.pool_size,
    )
