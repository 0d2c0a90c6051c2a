"""Claims on transaction ids in Redis (``frisk.engine.claims``), shared by every process.

One key per claimed id, ``<prefix>:{decide:<transaction id>}`` holding the owner's token, set
with ``SET NX PX`` (one round trip), so only one process at a time holds it and it expires by
itself after ``state.claim_seconds``. ``release`` deletes it only while it still holds the same
owner's token (a script), so a slow owner never releases a claim that expired and was taken by
another. On one Redis the feature store takes the claim in the event's own script
(``for_event``), so a new transaction costs one round trip; ``claim`` answers True for a claim
its owner holds already (taken by an event whose answer was lost). Driver errors become
``StateUnavailable`` here. Kept apart from the feature state store (``redis.py``): a claim is
about deciding once, not about feature records.
"""

from __future__ import annotations

from typing import Any

import redis.cluster
from redis.exceptions import RedisError

from frisk.config import StateSettings
from frisk.errors import ConfigError, StateUnavailable
from frisk.features.state import EventClaim
from frisk.features.stores.redis_client import HotConnection, client_for

__all__ = ["RedisClaims", "open_claims"]

# Delete the claim only if it is still the caller's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisClaims:
    """``Claims`` over a Redis client (``redis.Redis`` or ``redis.cluster.RedisCluster``)."""

    def __init__(self, client: Any, *, key_prefix: str, seconds: float) -> None:
        if not key_prefix or any(c in key_prefix for c in "{} \t\n"):
            raise ConfigError(f"state key prefix {key_prefix!r}: no braces or spaces, not empty")
        self.client = client
        self.cluster = isinstance(client, redis.cluster.RedisCluster)
        # claims are taken on every decision: on one Redis, on a connection kept for them
        self._hot = HotConnection(client)
        self.prefix = key_prefix
        self._seconds = seconds
        self._ms = max(1, round(seconds * 1000))
        try:
            self._release = client.register_script(_RELEASE)
        except RedisError as exc:
            raise StateUnavailable(f"claims in Redis ({key_prefix}) unavailable: {exc}") from exc

    @property
    def seconds(self) -> float:
        return self._seconds

    def claim(self, transaction_id: str, owner: str) -> bool:
        try:
            key = self._key(transaction_id)
            if self._hot.call("SET", key, owner, "NX", "PX", self._ms):
                return True
            held = self._hot.call("GET", key)  # (only when not free: is it ours already?)
        except (RedisError, OSError) as exc:
            raise StateUnavailable(f"claims in Redis ({self.prefix}) unavailable: {exc}") from exc
        return held is not None and (held.decode() if isinstance(held, bytes) else held) == owner

    def for_event(self, transaction_id: str, owner: str) -> EventClaim | None:
        """The claim as the feature store's event script takes it (one Redis; not a cluster,
        where the event's keys span slots)."""
        if self.cluster:
            return None
        return EventClaim(transaction_id, self._key(transaction_id), owner, self._ms)

    def release(self, transaction_id: str, owner: str) -> None:
        try:
            self._release(keys=[self._key(transaction_id)], args=[owner])
        except (RedisError, OSError) as exc:
            raise StateUnavailable(f"claims in Redis ({self.prefix}) unavailable: {exc}") from exc

    def held_by(self, transaction_id: str) -> str | None:
        """The owner holding the claim now, None when nobody does."""
        try:
            owner = self.client.get(self._key(transaction_id))
        except (RedisError, OSError) as exc:
            raise StateUnavailable(f"claims in Redis ({self.prefix}) unavailable: {exc}") from exc
        return None if owner is None else owner.decode()

    def close(self) -> None:
        self._hot.close()
        self.client.close()

    def _key(self, transaction_id: str) -> str:
        return f"{self.prefix}:{{decide:{transaction_id}}}"


def open_claims(settings: StateSettings) -> RedisClaims:
    """Claims in the Redis ``settings.url`` names, on a client of their own."""
    try:
        client = client_for(settings)
    except (RedisError, OSError, ValueError) as exc:
        raise StateUnavailable(f"claims in Redis unavailable: {exc}") from exc
    return RedisClaims(client, key_prefix=settings.key_prefix, seconds=settings.claim_seconds)
