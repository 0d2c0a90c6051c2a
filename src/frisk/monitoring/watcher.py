"""Follow a registry's production pointer: a promotion or rollback is served without a restart.

``frisk models promote`` and ``frisk retrain`` only rewrite ``production.json``; a service polls
it (one small file read per interval) and calls ``swap`` when it names a version other than the
one serving. A version that fails to swap in (a broken artifact, another feature catalogue) is
reported in ``last_error`` and not retried until the pointer changes again: the old model keeps
serving meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from frisk.errors import FriskError
from frisk.models.registry import Registry
from frisk.monitoring.poller import Poller

__all__ = ["RegistryWatcher"]

log = logging.getLogger("frisk.monitoring")


class RegistryWatcher(Poller):
    """Polls ``registry`` every ``interval`` seconds; ``swap()`` loads its production version."""

    what = "checking the registry pointer"

    def __init__(
        self,
        registry: Registry,
        current: Callable[[], str],
        swap: Callable[[], None],
        interval: float,
    ) -> None:
        super().__init__(interval, name="frisk-registry")
        self.registry = registry
        self.current = current
        self.swap = swap
        self.last_error: str | None = None
        self._failed: str | None = None  # the pointer value that failed, not retried

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
