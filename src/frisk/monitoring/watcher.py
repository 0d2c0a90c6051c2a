"""Follow a registry's production pointer: a promotion or rollback is served without a restart.

``frisk models promote`` and ``frisk retrain`` only rewrite ``production.json``; a service polls
it (one small file read per interval) and calls ``swap`` when it names a version other than the
one serving. A version that fails to swap in (a broken artifact, another feature catalogue) is
reported in ``last_error`` and not retried until the pointer changes again: the old model keeps
serving meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from frisk.errors import FriskError
from frisk.models.registry import Registry

__all__ = ["RegistryWatcher"]

log = logging.getLogger("frisk.monitoring")


class RegistryWatcher:
    """Polls ``registry`` every ``interval`` seconds; ``swap()`` loads its production version."""

    def __init__(
        self,
        registry: Registry,
        current: Callable[[], str],
        swap: Callable[[], None],
        interval: float,
    ) -> None:
        self.registry = registry
        self.current = current
        self.swap = swap
        self.interval = interval
        self.last_error: str | None = None
        self._failed: str | None = None  # the pointer value that failed, not retried
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RegistryWatcher:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="frisk-registry", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def check(self) -> bool:
        """Swap if the pointer moved; True when a new version was swapped in."""
        try:
            wanted = self.registry.production()
        except FriskError as exc:
            self._fail(None, f"cannot read the registry pointer: {exc}")
            return False
        if wanted is None or wanted == self.current() or wanted == self._failed:
            return False
        try:
            self.swap()
        except FriskError as exc:
            self._fail(
                wanted,
                f"{wanted} is in production in the registry but cannot be served: "
                f"{exc}; still serving {self.current()}",
            )
            return False
        self._failed, self.last_error = None, None
        log.info("registry pointer moved: now serving %s", self.current())
        return True

    def forget_failure(self) -> None:
        """Let the next check retry a version that failed (after an explicit reload)."""
        self._failed = None

    def _fail(self, version: str | None, message: str) -> None:
        if message != self.last_error:
            log.warning("%s", message)
        self._failed, self.last_error = version, message

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the poller must outlive anything one check throws
                log.exception("checking the registry pointer failed")
