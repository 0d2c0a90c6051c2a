"""A client-side cache of Redis records, so an event costs one round trip.

Each record in Redis carries a version (``v``, raised by every write). This process keeps the
records it last loaded or wrote, with their versions, in a bounded least-recently-used map; an
event computes on those and sends its writes with the versions it computed from. The server's
script (``event.lua``) writes only if every version still holds; else it writes nothing and
answers with the current records, which replace the cached ones, and the event is computed
again. A stale cache therefore costs a second round trip, never a wrong feature.

A key this process has not cached is taken to be absent (version 0): a new entity, the common
case on a stream, then costs no read; an existing one is found stale by the script.

The executor changes the records it is handed in place, so the cache hands out its own objects
and takes them back at ``commit``. Records handed out and not taken back (the event failed
between ``load`` and ``commit``) may hold half-applied changes: they are dropped at the next
``load`` (``settle``), as are those of a write that failed or was refused.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

__all__ = ["RecordCache"]

#: the version of a key Redis does not hold
ABSENT = 0


class RecordCache:
    """Records by Redis key, with the version each was read or written at; at most ``size``."""

    __slots__ = ("_entries", "_out", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._out: list[str] = []  # keys handed out by the last ``take``, not yet put back

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, names: Iterable[str]) -> tuple[list[int], list[Any]]:
        """The versions and records of ``names`` (absent ones: version 0, None), handed out."""
        self.settle()
        entries = self._entries
        versions: list[int] = []
        records: list[Any] = []
        out = self._out
        for name in names:
            found = entries.get(name)
            out.append(name)
            if found is None:
                versions.append(ABSENT)
                records.append(None)
            else:
                entries.move_to_end(name)
                versions.append(found[0])
                records.append(found[1])
        return versions, records

    def put(self, name: str, version: int, record: Any) -> None:
        """Remember ``record`` at ``version`` (the latest this process knows of)."""
        entries = self._entries
        entries[name] = (version, record)
        entries.move_to_end(name)
        if len(entries) > self.size:
            entries.popitem(last=False)

    def returned(self) -> None:
        """The records handed out came back (and were ``put`` again, or left unchanged)."""
        self._out.clear()

    def settle(self) -> None:
        """Drop the records handed out and never returned: they may be half-changed."""
        if self._out:
            self.drop(self._out)
            self._out.clear()

    def drop(self, names: Iterable[str]) -> None:
        """Forget ``names`` (the next event reads them as absent and is told otherwise)."""
        entries = self._entries
        for name in list(names):
            entries.pop(name, None)

    def clear(self) -> None:
        self._entries.clear()
        self._out.clear()
