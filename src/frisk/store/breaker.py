"""A circuit breaker: after a store fails to answer, callers fail at once for a short while.

A hung store costs each caller the whole timeout; a hundred callers queued behind one hung
connection would each wait for it. After a failure the breaker is *open* for ``cool_down``
seconds: calls fail at once (the service answers 503 with ``Retry-After``). Then one call at a time
is let through to probe the store (*half-open*); its success closes the breaker, its failure opens
it again. Nothing here knows a driver: PostgreSQL's guard (``store.postgres``) uses it, and so can
any other store (Redis) that has timeouts of its own.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Final

from frisk.errors import StoreError

__all__ = ["Breaker", "StoreUnavailableError", "whole_seconds"]

_CLOSED: Final = 0
_OPEN: Final = 1


class StoreUnavailableError(StoreError):
    """A store that failed just now and is not asked again until ``retry_after`` seconds pass."""

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class Breaker:
    """Open for ``cool_down`` seconds after a failure; one probe at a time once it has passed."""

    def __init__(self, name: str, cool_down: float = 1.0) -> None:
        self.name = name
        self.cool_down = cool_down
        self._lock = threading.Lock()
        self._state = _CLOSED
        self._until = 0.0  # monotonic time the open state lasts to
        self._probing = False
        self.failures = 0  # consecutive
        self.last_error = ""

    def before(self) -> bool:
        """Raise ``StoreUnavailableError`` while open; True when this call is the probe."""
        if self._state == _CLOSED:  # the hot path: one attribute read, no lock
            return False
        with self._lock:
            if self._state == _CLOSED:
                return False
            now = time.monotonic()
            if now < self._until or self._probing:
                raise StoreUnavailableError(
                    f"the {self.name} is not answering; retry shortly", self.retry_after(now)
                )
            self._probing = True
            return True

    def succeeded(self, probe: bool) -> None:
        if self._state == _CLOSED and not probe:
            return
        with self._lock:
            self._state = _CLOSED
            self._probing = False
            self.failures = 0

    def failed(self, error: str, probe: bool = False) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = error
            self._state = _OPEN
            self._until = time.monotonic() + self.cool_down
            if probe:
                self._probing = False

    @property
    def is_open(self) -> bool:
        return self._state == _OPEN

    def retry_after(self, now: float | None = None) -> float:
        """Seconds until the store is asked again (at least the cool-down while probing)."""
        left = self._until - (time.monotonic() if now is None else now)
        return max(left, self.cool_down if self._probing else 0.0)


def whole_seconds(seconds: float) -> int:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds))
