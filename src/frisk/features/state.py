"""Where the online executor keeps its state: a small store Protocol and the in-memory store.

State is split into named spaces (one per entity key, one per label key, and the executor's own
bookkeeping); each space maps a string key to a state record. A store returns a mutable mapping per
space, so the hot path is a dictionary lookup. A Redis-backed store would implement the same
Protocol in its own module (mapping values to serialised records), without touching definitions.

Snapshots are one file: a magic line, a JSON header (format, catalogue version) and a pickle of
the spaces. ``read_snapshot`` refuses a snapshot of another format or catalogue version.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, Final, Protocol

from frisk.errors import FeatureError, StoreError

__all__ = ["MemoryStore", "StateStore", "read_snapshot", "write_snapshot"]

_MAGIC: Final = b"FRISK-FEATURE-STATE\n"
# 2: flat entity records with cumulative logs; labels queued with their entity ids.
# Bump on ANY change to the entity state layout (entity.py, compiled.py): a snapshot of another
# layout must be refused (the service then rebuilds from the ledger), never read. 3: max queues
# became lists. 4: distinct counts mark superseded occurrences; ``last`` holds positions.
SNAPSHOT_FORMAT: Final = 4


class StateStore(Protocol):
    """Feature state by space and key."""

    def space(self, name: str) -> MutableMapping[str, Any]:
        """The mapping of one space, created empty on first use."""
        ...

    def spaces(self) -> Iterator[tuple[str, MutableMapping[str, Any]]]:
        """Every space, for snapshots and expiry sweeps."""
        ...


class MemoryStore:
    """State in this process's memory: one dict per space."""

    def __init__(self) -> None:
        self._spaces: dict[str, dict[str, Any]] = {}

    def space(self, name: str) -> dict[str, Any]:
        found = self._spaces.get(name)
        if found is None:
            found = self._spaces[name] = {}
        return found

    def spaces(self) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self._spaces.items()


def write_snapshot(path: Path, version: str, spaces: dict[str, Any]) -> None:
    """Write ``spaces`` (picklable) under a header naming the catalogue ``version``."""
    header = json.dumps({"format": SNAPSHOT_FORMAT, "catalogue_version": version}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(_MAGIC)
            handle.write(header + b"\n")
            pickle.dump(spaces, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except OSError as exc:
        raise StoreError(f"cannot write feature state snapshot {str(path)!r}: {exc}") from exc


def read_snapshot(path: Path, version: str) -> dict[str, Any]:
    """Read a snapshot written by ``write_snapshot`` for catalogue ``version``."""
    try:
        with path.open("rb") as handle:
            if handle.readline() != _MAGIC:
                raise FeatureError(f"{str(path)!r} is not a Frisk feature state snapshot")
            header = json.loads(handle.readline())
            if header.get("format") != SNAPSHOT_FORMAT:
                raise FeatureError(
                    f"snapshot {str(path)!r} has format {header.get('format')!r}, "
                    f"this Frisk reads format {SNAPSHOT_FORMAT}"
                )
            if header.get("catalogue_version") != version:
                raise FeatureError(
                    f"snapshot {str(path)!r} was taken with catalogue version "
                    f"{header.get('catalogue_version')!r}, not {version!r}"
                )
            # Snapshots are written by this process family; never load one from elsewhere.
            spaces: dict[str, Any] = pickle.load(handle)
    except OSError as exc:
        raise StoreError(f"cannot read feature state snapshot {str(path)!r}: {exc}") from exc
    except (pickle.UnpicklingError, json.JSONDecodeError, EOFError) as exc:
        raise FeatureError(f"snapshot {str(path)!r} is corrupt: {exc}") from exc
    return spaces
