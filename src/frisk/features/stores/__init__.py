"""State stores behind ``frisk.features.state.StateStore``: in-process (default) or Redis.

``open_store`` builds the one the settings name: an empty URL is the in-process ``MemoryStore``;
``redis://`` or ``rediss://`` a ``RedisStore`` (the ``[redis]`` extra), imported only then.
"""

from __future__ import annotations

from frisk.config import StateSettings
from frisk.errors import ConfigError
from frisk.features.state import StateStore
from frisk.features.stores.memory import SNAPSHOT_FORMAT, MemoryStore

__all__ = ["SNAPSHOT_FORMAT", "MemoryStore", "open_store"]


def open_store(settings: StateSettings) -> StateStore:
    """The state store ``settings`` name (``FRISK_STATE__URL`` and friends)."""
    url = settings.url.strip()
    if not url:
        return MemoryStore()
    if not url.startswith(("redis://", "rediss://")):
        raise ConfigError(f"state URL {url!r}: use redis://host:port/db or rediss://...")
    try:
        from frisk.features.stores.redis import RedisStore
    except ImportError as exc:
        raise ConfigError(
            f"feature state at {url!r} needs the Redis client: pip install 'frisk[redis]'"
        ) from exc
    return RedisStore.connect(
        url,
        cluster=settings.cluster,
        key_prefix=settings.key_prefix,
        connect_timeout=settings.connect_timeout,
        timeout=settings.timeout,
        pool_size=settings.pool_size,
        cache_size=settings.cache_size,
    )
