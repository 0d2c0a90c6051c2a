"""What processes share through Redis besides feature state: rate-limit buckets (a bucket per key
for every worker and node) and their answer when Redis is away."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from frisk.config import RateLimitSettings, StateSettings
from frisk.service.ratelimit import Limit

REDIS_URL = os.environ.get("FRISK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def prefix(require_service: Callable[[str, str, int], None]) -> Iterator[str]:
    import redis

    require_service("Redis", "127.0.0.1", 6379)
    name = f"frisk-test-shared-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = client.keys(f"{name}:*")
    if keys:
        client.delete(*keys)
    client.close()


def test_two_processes_draw_on_one_bucket_per_key(prefix: str) -> None:
    from frisk.service.redis_ratelimit import open_limiter

    state = StateSettings(url=REDIS_URL, key_prefix=prefix)
    one, two = open_limiter(state, RateLimitSettings()), open_limiter(state, RateLimitSettings())
    slow = Limit(per_second=0.01, burst=4)  # no refill to speak of during the test
    try:
        granted = [lim.acquire("k1", 1, slow) == 0 for lim in (one, two, one, two, one, two)]
        assert granted == [True, True, True, True, False, False]
        wait = two.acquire("k1", 1, slow)
        assert wait > 1  # (1 - refilled) / 0.01 s
        assert one.acquire("k2", 1, slow) == 0  # another key, its own bucket
        assert one.acquire("k2", 10, slow) > 0  # more than a bucket: refused, not split
        # The default limit (security.rate_limit.per_second / burst) when none is given.
        assert all(two.acquire("k3") == 0 for _ in range(10))
    finally:
        one.close()
        two.close()


def test_a_limiter_whose_redis_is_away_lets_requests_through() -> None:
    from frisk.service.redis_ratelimit import open_limiter

    state = StateSettings(url="redis://127.0.0.1:1/0", connect_timeout=0.2, timeout=0.2)
    limiter = open_limiter(state, RateLimitSettings())
    try:
        assert limiter.acquire("k", 1, Limit(0.01, 1)) == 0
        assert limiter.acquire("k", 1, Limit(0.01, 1)) == 0
    finally:
        limiter.close()
