"""``Poller``: a daemon thread that calls ``check()`` every ``interval`` seconds until closed.

The service follows things other processes change (the registry's production pointer, the
ledger's policy versions) this way: off the request path, one cheap read per interval, and a
check that raises is logged and tried again at the next interval instead of ending the thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Self

__all__ = ["Poller"]

log = logging.getLogger("frisk.monitoring")


class Poller:
    """Subclasses implement ``check``; ``what`` names it in the log when it fails."""

    what = "a check"

    def __init__(self, interval: float, *, name: str, at_start: bool = False) -> None:
        self.interval = interval
        self._name = name
        self._at_start = at_start  # a first check as the thread starts, not one interval later
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        """Start polling (not when ``interval`` is 0, or already started)."""
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop polling; wait up to ``timeout`` s for a check under way to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        if self._at_start:
            self._check()
        while not self._stop.wait(self.interval):
            self._check()

    def _check(self) -> None:
        try:
            self.check()
        except Exception:  # the poller must outlive anything one check throws
            log.exception("%s failed", self.what)
