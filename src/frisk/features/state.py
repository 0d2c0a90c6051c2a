"""The state-store seam: where the online executor keeps feature state, one unit of work per event.

State is split into spaces (one per entity key, then one per label key); a space maps a string key
to a record whose layout belongs to the executor (``frisk.features.entity``) and is opaque to the
store.

Per event the executor ``load``s the records of the keys the event touches (one key per space, None
where the event has no such entity), computes the features, changes or replaces the records, and
hands every one back in ``commit`` with the event's time and transaction id. A store may hand out
copies (a remote store must) or its own objects (the memory store does, for speed): either way a
change reaches the state only through ``save``/``commit``, and the executor keeps no reference to a
record once it has handed it back. A shared store may ``load`` from a cache of its own and find
out at ``commit`` that it was stale (``StateConflict``: nothing written, the executor computes the
event again); ``read`` (for ``peek``, which writes nothing) always reads the state as it is. A
store that drops a write loses state, and the contract suite (tests/contract/test_state_store.py)
catches it.

Shared bookkeeping lives behind the seam too:

- the clock: the latest event time committed (an event never moves it back);
- labels waiting for their arrival time (``queue_label``, then ``due_labels``);
- the claim on a transaction id: ``commit`` records which label keys the transaction touched, so
  a label arriving later reaches them (``due_labels`` resolves it), within the layout's
  ``remember`` bound and label horizon.

Expiry is "expires at": each space says when a record expires (``SpaceSpec.expires_at``); a store
may forget a record from that time on, in its own way and time (the memory store checks a few
keys per new one; a remote store sets a TTL). The executor never walks a store's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = ["NEVER", "DueLabel", "Found", "SpaceSpec", "StateLayout", "StateStore"]

#: ``next_label_at`` of a store with no label queued: after any event time
NEVER: Final = 1 << 63
#: what a transaction's claim holds: its timestamp, then its key in each label space (or None)
Found = tuple[Any, ...]
#: a label due now: (arrival time, label 0/1, the transaction's claim or None when unknown)
DueLabel = tuple[int, int, Found | None]


@dataclass(frozen=True, slots=True)
class SpaceSpec:
    """One space of state: its name, and when one of its records expires."""

    name: str
    #: the time from which the record may be forgotten (its entity is new again)
    expires_at: Callable[[Any], int]
    #: a label space: a transaction's claim keeps its key in this space
    labels: bool = False
    #: the record as bytes and back, for a store that keeps records outside this process
    encode: Callable[[Any], bytes] | None = None
    decode: Callable[[bytes], Any] | None = None


@dataclass(frozen=True, slots=True)
class StateLayout:
    """What an executor asks of a store: its spaces, in the order of ``load``'s keys."""

    catalogue_version: str
    spaces: tuple[SpaceSpec, ...]
    #: a label counts only if it arrives less than this after its transaction
    label_horizon: int
    #: at most this many transactions' claims are kept to route labels (0: none)
    remember: int


class StateStore(Protocol):
    """Feature state: records in, records out, one unit of work per event."""

    @property
    def clock(self) -> int | None:
        """The latest event time committed (µs), None before the first."""
        ...

    @property
    def next_label_at(self) -> int:
        """The arrival time of the earliest queued label; ``NEVER`` when none is queued."""
        ...

    def open(self, layout: StateLayout) -> None:
        """Bind the store to ``layout``; refuse state kept for another catalogue version."""
        ...

    def load(self, keys: Sequence[str | None]) -> Sequence[Any]:
        """The record of each key in its space (in layout order); None for a None key or none."""
        ...

    def read(self, keys: Sequence[str | None]) -> Sequence[Any]:
        """The records of ``keys`` as the state holds them now, for a reader that changes
        nothing (``peek``): never from a cache another process may have made stale."""
        ...

    def save(self, t: int, keys: Sequence[str | None], records: Sequence[Any]) -> None:
        """Store the records loaded for ``keys`` as changed at time ``t`` (None: unchanged)."""
        ...

    def commit(
        self, transaction_id: str, t: int, keys: Sequence[str | None], records: Sequence[Any]
    ) -> None:
        """An event's unit of work: ``save``, move the clock to ``t``, claim the transaction."""
        ...

    def queue_label(self, at: int, transaction_id: str, label: int, found: Found | None) -> None:
        """Queue a label arriving at ``at``; ``found`` is its transaction's claim when known."""
        ...

    def due_labels(self, t: int) -> list[DueLabel]:
        """Take the labels that arrived before ``t``, oldest first (ties in queueing order), each
        with its transaction's claim (``found`` as queued, else the claim the store holds)."""
        ...

    def sweep(self) -> int:
        """Forget every record expired at the clock now; how many."""
        ...
