"""A client-side cache of Redis records, so an event costs one round trip and little transfer.

In Redis each entity's state is a journal (``frisk.features.stores.redis``): a snapshot of its
record at some version and the changes after it. This process keeps the records it last had,
with the version each is at and the version of the snapshot Redis held then, in a bounded
least-recently-used map. An event sends the versions it holds; the script answers with the
changes after them (one or two when another process wrote the entity, none when this one was
the last), which this process applies to its copies. A record it does not hold (never seen,
evicted, or dropped below) costs the snapshot and the changes after it, in the same round trip.

The executor changes the records it is handed in place, so the cache hands out its own objects
and takes them back at ``commit``. Records handed out and not taken back (the event failed
between ``begin`` and ``commit``) may hold half-applied changes: they are dropped at the next
``take`` (``settle``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

__all__ = ["Held", "RecordCache"]

#: what the cache holds of a key: (the record's version, its snapshot's version, the record, the
#: size of the record's last encoding seen, in bytes, the label sequence it was brought up to
#: date at: a label record, on one Redis; else -1, when this process last set the key's TTL:
#: ``time.monotonic()``, 0.0 for never)
Held = tuple[int, int, Any, int, int, float]


class RecordCache:
    """Records by Redis key, at the version each was brought to; at most ``size``."""

    __slots__ = ("_entries", "_out", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, Held] = OrderedDict()
        self._out: list[str] = []  # keys handed out by the last ``take``, not yet put back

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, names: Iterable[str]) -> list[Held | None]:
        """What is held of each of ``names`` (None: nothing), handed out."""
        self.settle()
        entries = self._entries
        found: list[Held | None] = []
        out = self._out
        for name in names:
            held = entries.get(name)
            out.append(name)
            if held is not None:
                entries.move_to_end(name)
            found.append(held)
        return found

    def put(
        self,
        name: str,
        version: int,
        snapshot: int,
        record: Any,
        size: int = 0,
        seen: int = -1,
        expiry_set: float = 0.0,
    ) -> None:
        """Remember ``record`` at ``version`` (Redis's snapshot then at ``snapshot``; ``size``
        the bytes of its last encoding seen; ``seen`` the label sequence then; ``expiry_set``
        when this process last set the key's TTL)."""
        entries = self._entries
        entries[name] = (version, snapshot, record, size, seen, expiry_set)
        entries.move_to_end(name)
        if len(entries) > self.size:
            entries.popitem(last=False)

    def returned(self) -> None:
        """The records handed out came back (and were ``put`` again, or dropped)."""
        self._out.clear()

    def settle(self) -> None:
        """Drop the records handed out and never returned: they may be half-changed."""
        if self._out:
            self.drop(self._out)
            self._out.clear()

    def drop(self, names: Iterable[str]) -> None:
        """Forget ``names`` (the next event reads their snapshot and changes afresh)."""
        entries = self._entries
        for name in list(names):
            entries.pop(name, None)

    def clear(self) -> None:
        self._entries.clear()
        self._out.clear()
