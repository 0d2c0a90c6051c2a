"""Claims on transaction ids, so that one of several processes decides each transaction.

Within a process the decider's striped locks serialise requests for one id. Across worker
processes and nodes sharing one ledger and one feature state, two requests for the same id may
both find the ledger without it; without a claim both would run the engine, and feature state
would learn the payment twice. So, after the ledger look-up and the live checks, the decider
``claim``s the id: the one that gets it decides and records; any other waits until the ledger
holds the decision and answers it from there (or 409 for another body). A claim expires by
itself after ``seconds`` (``state.claim_seconds``), so a process killed while holding one delays
a retry by at most that long; a decision that fails ``release``s it at once.

``Claims`` is the seam; ``MemoryClaims`` keeps claims in the process (tests, one process), and
``frisk.features.stores.redis_claims`` in Redis (``SET NX PX``), shared by every process.

Claims in the Redis that holds the feature state can be taken by the event's own write
(``EventClaims.for_event``: an ``EventClaim`` the store takes in the script that appends the
event), so deciding a new transaction costs one round trip to Redis, not two. The decider uses
it only with an engine that says its store takes such claims (``TakesEventClaims``); when the
event does not reach the store (it is unavailable, or the engine only peeks), the decider takes
the claim apart before recording, as nothing of the event was written.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from frisk.errors import StateUnavailable
from frisk.features.state import EventClaim

__all__ = ["BestEffortClaims", "Claims", "EventClaims", "MemoryClaims"]


@runtime_checkable
class Claims(Protocol):
    """Exclusive, expiring claims on transaction ids."""

    @property
    def seconds(self) -> float:
        """How long a claim holds unless released."""
        ...

    def claim(self, transaction_id: str, owner: str) -> bool:
        """Take the claim for ``owner``: True (also when ``owner`` holds it already), or False
        while another owner holds it.

        Raises ``StateUnavailable`` when the claims cannot be reached.
        """
        ...

    def release(self, transaction_id: str, owner: str) -> None:
        """Give the claim up if ``owner`` still holds it (a later owner's is kept)."""
        ...


@runtime_checkable
class EventClaims(Protocol):
    """Claims that a feature store can take with an event (one Redis: the same server)."""

    def for_event(self, transaction_id: str, owner: str) -> EventClaim | None:
        """The claim for ``owner`` as the store takes it with the event; None when it cannot
        (then ``claim`` it apart, first)."""
        ...


class MemoryClaims:
    """``Claims`` in this process, on a clock (``time.monotonic`` unless given)."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._held: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        return self._seconds

    def claim(self, transaction_id: str, owner: str) -> bool:
        now = self._clock()
        with self._lock:
            held = self._held.get(transaction_id)
            if held is not None and held[1] > now and held[0] != owner:
                return False
            self._held[transaction_id] = (owner, now + self._seconds)
            if len(self._held) > 100_000:  # forget expired claims now and then
                self._held = {k: v for k, v in self._held.items() if v[1] > now}
            return True

    def release(self, transaction_id: str, owner: str) -> None:
        with self._lock:
            held = self._held.get(transaction_id)
            if held is not None and held[0] == owner:
                del self._held[transaction_id]


class BestEffortClaims:
    """``Claims`` that grant a claim when their store is unavailable (``state.on_unavailable``
    ``score`` or ``review``): a payment is still decided, degraded, rather than refused. Two
    processes may then both decide one id; the ledger keeps one record, and feature state,
    unreachable too, learns neither."""

    def __init__(self, inner: Claims) -> None:
        self.inner = inner

    @property
    def seconds(self) -> float:
        return self.inner.seconds

    def claim(self, transaction_id: str, owner: str) -> bool:
        try:
            return self.inner.claim(transaction_id, owner)
        except StateUnavailable:
            return True

    def for_event(self, transaction_id: str, owner: str) -> EventClaim | None:
        if isinstance(self.inner, EventClaims):
            return self.inner.for_event(transaction_id, owner)
        return None

    def release(self, transaction_id: str, owner: str) -> None:
        with contextlib.suppress(StateUnavailable):
            self.inner.release(transaction_id, owner)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
