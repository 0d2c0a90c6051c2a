"""Test-side access to the brokers on this machine: publish like a producer, read like a reader.

Each ``Kit`` has its own name prefix, so every test has its own streams (Redis) or subjects and
JetStream streams (NATS); ``cleanup`` deletes what the test and its consumers created.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

REDIS_URL = os.environ.get("FRISK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("FRISK_TEST_NATS_URL", "nats://127.0.0.1:4222")


class Kit:
    """One broker, one name prefix."""

    kind: str
    url: str

    def __init__(self) -> None:
        self.prefix = f"t{uuid.uuid4().hex[:10]}"

    def name(self, what: str) -> str:
        return f"{self.prefix}.{what}"

    def publish(self, stream: str, bodies: list[Any], field: str = "event") -> None:
        raise NotImplementedError

    def read(self, stream: str, field: str) -> list[bytes]:
        raise NotImplementedError

    def unacked(self, stream: str, group: str) -> int:
        """Messages of ``stream`` the group has not acknowledged (delivered or not)."""
        raise NotImplementedError

    def members(self, stream: str, group: str) -> set[str]:
        """The group's members the broker knows by name."""
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError


def _encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else orjson.dumps(body)


class RedisKit(Kit):
    kind = "redis"
    url = REDIS_URL

    def __init__(self) -> None:
        import redis

        super().__init__()
        self.client = redis.Redis.from_url(self.url)

    def publish(self, stream: str, bodies: list[Any], field: str = "event") -> None:
        pipe = self.client.pipeline(transaction=False)
        for body in bodies:
            pipe.xadd(stream, {field: _encode(body)} if field else {"other": b"x"})
        pipe.execute()

    def read(self, stream: str, field: str) -> list[bytes]:
        return [
            fields[field.encode()]
            for _id, fields in self.client.xrange(stream)
            if field.encode() in fields
        ]

    def unacked(self, stream: str, group: str) -> int:
        for info in self.client.xinfo_groups(stream):
            if info["name"] == group.encode():
                return int(info["pending"]) + int(info.get("lag") or 0)
        return 0

    def members(self, stream: str, group: str) -> set[str]:
        return {m["name"].decode() for m in self.client.xinfo_consumers(stream, group)}

    def cleanup(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}*", count=1000))
        if keys:
            self.client.delete(*keys)
        self.client.close()


class NatsKit(Kit):
    kind = "nats"
    url = NATS_URL

    def __init__(self) -> None:
        super().__init__()
        # Its own loop in its own thread: the kit is called from inside consumers' loops too.
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.nc: Any = self._run(self._connect())
        self.js = self.nc.jetstream()

    async def _connect(self) -> Any:
        import nats

        return await nats.connect(self.url)

    def _run(self, work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def ensure(self, subject: str) -> str:
        from frisk.streams.nats import stream_name

        async def make() -> str:
            import nats.js.errors

            try:
                found: str = await self.js.find_stream_name_by_subject(subject)
                return found
            except nats.js.errors.NotFoundError:
                await self.js.add_stream(name=stream_name(subject), subjects=[subject])
                return stream_name(subject)

        name: str = self._run(make())
        return name

    def publish(self, stream: str, bodies: list[Any], field: str = "event") -> None:
        self.ensure(stream)

        async def send() -> None:
            for body in bodies:
                await self.js.publish(stream, _encode(body))

        self._run(send())

    def read(self, stream: str, field: str) -> list[bytes]:
        import nats.js.errors

        async def get() -> list[bytes]:
            try:
                name = await self.js.find_stream_name_by_subject(stream)
            except nats.js.errors.NotFoundError:
                return []
            info = await self.js.stream_info(name)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                if info.state.messages == 0:
                    break
                msg = await self.js.get_msg(name, seq)
                out.append(msg.data)
            return out

        got: list[bytes] = self._run(get())
        return got

    def unacked(self, stream: str, group: str) -> int:
        async def ask() -> int:
            name = await self.js.find_stream_name_by_subject(stream)
            info = await self.js.consumer_info(name, group)
            return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

        got: int = self._run(ask())
        return got

    def members(self, stream: str, group: str) -> set[str]:
        return set()

    def cleanup(self) -> None:
        async def drop() -> None:
            for name in await self.js.streams_info():
                if name.config.name.startswith(f"FRISK_{self.prefix}"):
                    await self.js.delete_stream(name.config.name)
            await self.nc.close()

        self._run(drop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


HOSTS = {"redis": ("Redis", "127.0.0.1", 6379), "nats": ("NATS", "127.0.0.1", 4222)}


def kit_fixture(
    request: pytest.FixtureRequest, require: Callable[[str, str, int], None]
) -> Iterator[Kit]:
    kind = request.param
    require(*HOSTS[kind])
    if kind == "nats":
        pytest.importorskip("nats", reason="the [nats] extra (nats-py) is not installed")
    kit: Kit = RedisKit() if kind == "redis" else NatsKit()
    try:
        yield kit
    finally:
        kit.cleanup()
