"""One way to open a Redis client for Frisk's shared state, claims and rate limits.

Every client Frisk opens on Redis (the feature state, the claims on transaction ids, the rate
limits' buckets) is opened here, the same way:

- no silent retries: a request that timed out may have run (a label queued twice would count
  twice, a SET NX retried would find its own claim); a failure goes to the caller;
- a *blocking* pool of ``pool_size`` connections: a thread that finds every connection in use
  waits for one, up to the request timeout, instead of failing at once. A worker runs decisions
  in a pool of threads, more of them than connections, and an exhausted non-blocking pool
  answered "Too many connections" (a 503) under load;
- on a Redis Cluster, the same per node.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from frisk.config import StateSettings

__all__ = ["client_for", "open_client"]


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
