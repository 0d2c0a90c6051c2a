"""Per-key token buckets: in process (``RateLimiter``), or in Redis shared by every process
(``frisk.service.redis_ratelimit``) when feature state is there.

A key's bucket holds ``burst`` tokens refilled at ``per_second``; both come from the key's own
rate limit (``frisk keys create --rate-limit N``: N per second, a bucket of ``N x
burst_seconds``) or from the defaults for its role (``security.rate_limit``): scorer keys
``scorer_per_second`` (sized for payment traffic: a payment switch refused by its fraud engine is
an outage), the others ``per_second`` and ``burst``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from frisk.config import RateLimitSettings
from frisk.schema import Role

__all__ = ["Limit", "Limiter", "RateLimiter", "limit_for", "retry_after"]


@dataclass(frozen=True, slots=True)
class Limit:
    """A bucket's refill rate (tokens per second) and size (tokens)."""

    per_second: float
    burst: float


def limit_for(settings: RateLimitSettings, role: Role, own: float | None) -> Limit:
    """The limit of a key of ``role`` whose own rate limit is ``own`` (None: its role's)."""
    if own is not None:
        return Limit(own, max(1.0, own * settings.burst_seconds))
    if role is Role.SCORER:
        rate = settings.scorer_per_second
        return Limit(rate, max(1.0, rate * settings.burst_seconds))
    return Limit(settings.per_second, float(settings.burst))


class Limiter(Protocol):
    """Grant or refuse ``cost`` tokens of a key's bucket."""

    def acquire(self, key: str, cost: float = 1.0, limit: Limit | None = None) -> float:
        """Take ``cost`` tokens and return 0, or take none and return the seconds to wait."""
        ...


def retry_after(wait: float) -> int:
    """Whole seconds for a ``Retry-After`` header (at least 1)."""
    return max(1, math.ceil(wait))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets in this process; ``per_second``/``burst`` for calls that give no limit."""

    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, cost: float = 1.0, limit: Limit | None = None) -> float:
        """Take ``cost`` tokens and return 0, or take none and return the seconds to wait.

        A cost above the burst can never be paid at once; it is refused with the time a full
        bucket would need, which tells the caller to send less at a time.
        """
        rate, burst = (
            (self.per_second, float(self.burst))
            if limit is None
            else (limit.per_second, limit.burst)
        )
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            missing = min(cost, burst) - bucket.tokens
            return max(missing / rate, 1e-3)

    @staticmethod
    def retry_after(wait: float) -> int:
        """Whole seconds for a ``Retry-After`` header (at least 1)."""
        return retry_after(wait)
