"""Token buckets in Redis, shared by every worker and node of a service (``service.ratelimit``).

One hash per key, ``<prefix>:{rate:<key id>}`` (tokens, stamp), changed by one script per
request that refills the bucket on Redis's own clock (``TIME``: one clock for every node), takes
the cost or says how long to wait, and lets the hash expire once a full refill would have
topped it up anyway. A Redis that does not answer lets the request through (logged, at most once
a minute): a payment refused because the limiter's store is away would be an outage of its own,
and the decision path has its own answer to an unavailable Redis.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError

from frisk.config import RateLimitSettings, StateSettings
from frisk.features.stores.redis_client import client_for
from frisk.service.ratelimit import Limit

__all__ = ["RedisRateLimiter", "open_limiter"]

log = logging.getLogger("frisk.service")

_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(held[1]) or burst
local stamp = tonumber(held[2]) or now
if now > stamp then
    tokens = math.min(burst, tokens + (now - stamp) * rate)
end
local wait = 0
if tokens >= cost then
    tokens = tokens - cost
else
    wait = math.max((math.min(cost, burst) - tokens) / rate, 0.001)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """A ``Limiter`` over a Redis client; ``default`` for calls that give no limit."""

    def __init__(self, client: Any, *, key_prefix: str, default: Limit) -> None:
        self.client = client
        self.prefix = key_prefix
        self.default = default
        self._bucket = client.register_script(_BUCKET)
        self._warned = 0.0

    def acquire(self, key: str, cost: float = 1.0, limit: Limit | None = None) -> float:
        limit = limit or self.default
        try:
            wait = self._bucket(
                keys=[f"{self.prefix}:{{rate:{key}}}"],
                args=[repr(limit.per_second), repr(limit.burst), repr(float(cost))],
            )
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                log.warning("rate limits in Redis unavailable, requests let through: %s", exc)
            return 0.0
        return float(wait)

    def close(self) -> None:
        self.client.close()


def open_limiter(state: StateSettings, limits: RateLimitSettings) -> RedisRateLimiter:
    """Buckets in the Redis ``state.url`` names, under ``state.key_prefix``."""
    client = client_for(state)
    return RedisRateLimiter(
        client, key_prefix=state.key_prefix, default=Limit(limits.per_second, limits.burst)
    )
