"""Redis Streams as a ``Broker``: consumer groups, ``XACK``, and claiming a dead member's entries.

A payment is an entry whose field ``event`` holds the JSON body; a decision is published as an
entry with the field ``decision``. A member reads its own pending entries first (a restart under
the same ``consumer.name``), then, every ``redeliver_seconds``, claims entries another member
was given and has not acknowledged for that long (``XAUTOCLAIM``: that member died), then new
entries (``XREADGROUP ... >``).

Publishing is deduplicated as NATS does with ``Nats-Msg-Id``: a script adds an entry only if
``<stream>:published:<key>`` was not set in the last ``dedupe_seconds`` and sets it in the same
step, so the decision of a message redelivered after its decision was published (the consumer
died before ``XACK``) is not published twice. The script touches keys it is not given, so the
output stream and its markers must live on one node (a plain Redis, not a Redis Cluster).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from frisk.config import ConsumerSettings
from frisk.extras import require
from frisk.streams.broker import BrokerError
from frisk.streams.messages import Delivery

__all__ = ["RedisStreams"]

_PUBLISH = """
local added = 0
for i = 4, #ARGV, 2 do
  if redis.call('SET', ARGV[3] .. ARGV[i], '1', 'NX', 'PX', ARGV[2]) then
    redis.call('XADD', KEYS[1], '*', ARGV[1], ARGV[i + 1])
    added = added + 1
  end
end
return added
"""


class RedisStreams:
    """One member of a consumer group on Redis Streams (see the module docstring)."""

    def __init__(self, url: str, settings: ConsumerSettings, name: str) -> None:
        self.url = url
        self.settings = settings
        self.name = name
        self.group = settings.group
        self._client: Any = None
        self._publish: Any = None
        self._own_pending: set[str] = set()  # sources whose own pending entries are not read yet
        self._claimed_at: dict[str, float] = {}

    async def open(self, sources: Sequence[str], targets: Sequence[str]) -> None:
        aioredis = require("redis.asyncio", "redis", "frisk consume from Redis Streams")
        self._client = aioredis.from_url(self.url, socket_connect_timeout=5.0)
        self._publish = self._client.register_script(_PUBLISH)
        errors = require("redis.exceptions", "redis", "frisk consume from Redis Streams")
        for source in sources:
            try:
                await self._client.xgroup_create(source, self.group, id="0", mkstream=True)
            except errors.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise BrokerError(f"Redis Streams {source!r}: {exc}") from exc
            except errors.RedisError as exc:
                raise BrokerError(f"Redis at {_where(self.url)}: {exc}") from exc
            self._own_pending.add(source)

    async def fetch(self, source: str, field: str, count: int, wait: float) -> list[Delivery]:
        if source in self._own_pending:  # entries this name was given before a restart
            own = await self._client.xreadgroup(self.group, self.name, {source: "0"}, count=count)
            got = _deliveries(own, field)
            if got:
                return got
            self._own_pending.discard(source)
        now = time.monotonic()
        if now - self._claimed_at.get(source, -float("inf")) >= self.settings.redeliver_seconds:
            self._claimed_at[source] = now
            claimed = await self._claim(source, count, field)
            if claimed:
                return claimed
        new = await self._client.xreadgroup(
            self.group, self.name, {source: ">"}, count=count, block=max(1, int(wait * 1000))
        )
        return _deliveries(new, field)

    async def _claim(self, source: str, count: int, field: str) -> list[Delivery]:
        idle = int(self.settings.redeliver_seconds * 1000)
        out: list[Delivery] = []
        start = "0-0"
        while len(out) < count:
            reply = await self._client.xautoclaim(
                source, self.group, self.name, idle, start_id=start, count=count - len(out)
            )
            start, entries = reply[0], reply[1]
            out.extend(_entry(entry_id, fields, field) for entry_id, fields in entries)
            if start in (b"0-0", "0-0"):
                break
        return out

    async def publish(self, target: str, field: str, items: Sequence[tuple[str, bytes]]) -> None:
        if not items:
            return
        ttl = str(int(self.settings.dedupe_seconds * 1000))
        args: list[str | bytes] = [field, ttl, f"{target}:published:"]
        for key, body in items:
            args.extend((key, body))
        await self._publish(keys=[target], args=args)

    async def ack(self, source: str, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            await self._client.xack(source, self.group, *(d.id for d in deliveries))

    async def lag(self, source: str) -> int | None:
        for group in await self._client.xinfo_groups(source):
            name = group.get("name")
            if name in (self.group, self.group.encode()):
                lag = group.get("lag")
                pending = int(group.get("pending") or 0)
                return None if lag is None else int(lag) + pending
        return None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _deliveries(reply: Any, field: str) -> list[Delivery]:
    if not reply:
        return []
    out: list[Delivery] = []
    for _stream, entries in reply:
        out.extend(_entry(entry_id, fields, field) for entry_id, fields in entries)
    return out


def _entry(entry_id: bytes | str, fields: dict[bytes, bytes] | None, field: str) -> Delivery:
    key = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    # A pending entry deleted from the stream comes back without fields: nothing to decide.
    data = None if not fields else fields.get(field.encode())
    return Delivery(key, data)


def _where(url: str) -> str:
    """Host and port only: a URL may carry a password."""
    rest = url.partition("://")[2].rpartition("@")[2]
    return rest.partition("/")[0] or rest
