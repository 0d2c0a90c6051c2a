"""The state-store seam: where the online executor keeps feature state, one unit of work per event.

State is split into spaces (one per entity key, then one per label key); a space maps a string key
to a record whose layout belongs to the executor (``frisk.features.entity``) and is opaque to the
store, and a record changes only by a *change* the executor defines (``SpaceSpec.replay``): an
event, for an entity's record; a label, for a label record.

Per event the executor ``begin``s it: the store answers with the time the event is processed at
(its own, or the clock's when the event is behind it) and the records of the keys the event
touches (one key per space, None where the event has no such entity) as they stand just before
it. The executor computes the features, changes the records in place or replaces them, and hands
every one back in ``commit``. A store may hand out copies (a remote store must) or its own objects
(the memory store does, for speed): either way a change reaches the state only through the store,
and the executor keeps no reference to a record once it has handed it back.

A shared store (Redis) takes the event's place in each of its entities' histories at ``begin``,
atomically: it appends the event to each entity's journal and answers with what this process has
not seen of those journals, which it applies to its cached records with ``SpaceSpec.replay``. So
any number of processes write one entity without ever refusing each other's writes: nothing is
computed twice (see ``frisk.features.stores.redis``); on one Redis its script also applies the
labels queued that fall due before the event (its ``next_label_at`` is then always ``NEVER``).
``read`` (for ``peek``, which writes nothing) reads the state as it is.

A label reaches the label records of its transaction's keys by ``label`` (one change, applied to
each). Shared bookkeeping lives behind the seam too:

- the clock: the latest event time committed (an event never moves it back);
- labels waiting for their arrival time (``queue_label``, then ``due_labels``);
- the claim on a transaction id: ``commit`` records which label keys the transaction touched, so
  a label arriving later reaches them (``due_labels`` resolves it), within the layout's
  ``remember`` bound and label horizon.

Expiry is "expires at": each space says when a record expires (``SpaceSpec.expires_at``) and how
long a record lives after its last change (``SpaceSpec.lifetime``); a store may forget a record
from that time on, in its own way and time (the memory store checks a few keys per new one; a
remote store sets a TTL). The executor never walks a store's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

__all__ = [
    "EVENT_CLAIM",
    "NEVER",
    "AppliesChanges",
    "DueLabel",
    "EventClaim",
    "Found",
    "SpaceSpec",
    "StateLayout",
    "StateStore",
]

#: ``next_label_at`` of a store with no label queued: after any event time
NEVER: Final = 1 << 63
#: what a transaction's claim holds: its timestamp, then its key in each label space (or None)
Found = tuple[Any, ...]
#: a label due now: (arrival time, label 0/1, the transaction's claim or None when unknown)
DueLabel = tuple[int, int, Found | None]


@dataclass(slots=True)
class EventClaim:
    """The claim on a transaction that a process decides (``frisk.engine.claims``), for a shared
    store to take in the same write as the transaction's event, in one round trip: the event
    is written only if ``key`` is free or already ``owner``'s, and then holds ``owner`` for
    ``ms``. The store sets ``taken``; when another owner holds it, ``begin`` raises
    ``ClaimHeld`` and writes nothing."""

    transaction_id: str
    key: str
    owner: str
    ms: int
    taken: bool = False


#: The claim to take with the event being learnt in this context (the decider sets it around
#: the engine's call; a store that cannot take it leaves ``taken`` False).
EVENT_CLAIM: ContextVar[EventClaim | None] = ContextVar("frisk_event_claim", default=None)


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
    #: ``replay(record or None, t, change)``: the record after one change at ``t`` (an event's
    #: fields for an entity space, ``(label, transaction time)`` for a label space), computed
    #: exactly as the executor does, for a store that learns changes made by other processes
    replay: Callable[[Any, int, Any], Any] | None = None
    #: µs a record lives after its last change (its expiry is at most this far ahead)
    lifetime: int = 0


@dataclass(frozen=True, slots=True)
class StateLayout:
    """What an executor asks of a store: its spaces, in the order of ``load``'s keys."""

    catalogue_version: str
    spaces: tuple[SpaceSpec, ...]
    #: a label counts only if it arrives less than this after its transaction
    label_horizon: int
    #: at most this many transactions' claims are kept to route labels (0: none)
    remember: int
    #: the fields of an event that the replay of an entity space reads (``amount`` among them)
    event_fields: tuple[str, ...] = ()


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

    def begin(
        self,
        transaction_id: str,
        t_event: int,
        keys: Sequence[str | None],
        event: Mapping[str, Any],
    ) -> tuple[int, Sequence[Any]]:
        """Start an event: the time it is processed at (``t_event``, or the clock when behind it)
        and the record of each key in its space (layout order; None for a None key or none) as
        it stands before the event. A shared store takes the event's place here (``commit``
        then only hands the records back)."""
        ...

    def read(self, keys: Sequence[str | None]) -> Sequence[Any]:
        """The records of ``keys`` as the state holds them now, for a reader that changes
        nothing (``peek``): never from a cache another process may have made stale."""
        ...

    def commit(
        self, transaction_id: str, t: int, keys: Sequence[str | None], records: Sequence[Any]
    ) -> None:
        """The end of an event ``begin`` started: its records handed back (None: unchanged),
        the clock moved to ``t``, the transaction claimed."""
        ...

    def label(self, at: int, keys: Sequence[str | None], change: Any) -> None:
        """Apply a label's ``change`` at ``at`` to the record of each key (label spaces only;
        None keys are skipped), through the spaces' ``replay``."""
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


@runtime_checkable
class AppliesChanges(Protocol):
    """A shared store that applies to its copies the changes other processes made (metrics)."""

    #: changes applied so far that this process did not make (or of records it did not hold)
    replayed: int
