"""The plug-in point of ``frisk consume``: a broker with consumer groups and explicit acks.

A ``Broker`` reads a stream as one member of a group (each message goes to one member; one not
acknowledged in time goes to another), publishes with a dedupe key (a message published twice
under one key is kept once, for ``consumer.dedupe_seconds``), and acknowledges. ``redis``
(Redis Streams) and ``nats`` (NATS JetStream) implement it, each in its own module with its own
client; ``frisk.streams.open_broker`` picks one by the URL's scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from frisk.errors import ConfigError

if TYPE_CHECKING:
    from frisk.streams.messages import Delivery

__all__ = ["Broker", "BrokerError"]


class BrokerError(ConfigError):
    """The broker refused or could not be reached; the message names which and why."""


class Broker(Protocol):
    """One consumer's connection to a broker (see the module docstring)."""

    async def open(self, sources: Sequence[str], targets: Sequence[str]) -> None:
        """Connect; join the group on ``sources``; make sure every stream exists."""
        ...

    async def fetch(self, source: str, field: str, count: int, wait: float) -> list[Delivery]:
        """Up to ``count`` messages of ``source`` for this consumer, waiting up to ``wait`` s
        for the first: its own unacknowledged ones, a dead member's, then new ones.

        ``field`` is the Redis Streams entry field holding the body (``event``, ``label``)."""
        ...

    async def publish(self, target: str, field: str, items: Sequence[tuple[str, bytes]]) -> None:
        """Publish each ``(dedupe key, body)``; returns once the broker has stored them all.

        ``field`` is the Redis Streams entry field (``decision``, ``dead_letter``)."""
        ...

    async def ack(self, source: str, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge: the group will not deliver these again."""
        ...

    async def lag(self, source: str) -> int | None:
        """Messages of ``source`` the group has not acknowledged yet (None: unknown)."""
        ...

    async def close(self) -> None: ...
