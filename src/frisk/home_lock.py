"""One server per home: ``frisk serve`` holds an exclusive lock on ``<home>/serve.lock``.

Feature state lives in the serving process and is snapshotted under the home. A second server on
the same home would learn half of each payer's payments and overwrite the first one's snapshots,
silently. The lock is an ``flock`` on an open file, so the kernel releases it when the process
ends, however it ends (no stale lock after a crash); the file names the holder for the message.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import IO

from frisk.errors import ConfigError

__all__ = ["HomeLock"]

_NAME = "serve.lock"


class HomeLock:
    """``with HomeLock(home):`` runs the block as the only server of ``home``, or raises
    ``ConfigError`` naming the process that already is."""

    def __init__(self, home: Path) -> None:
        self.path = home / _NAME
        self._file: IO[str] | None = None

    def acquire(self) -> HomeLock:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; nothing to hold
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(
                f"another frisk serve ({holder}) is serving this home; two servers on one home "
                "would split feature state between them: stop it, or give this one its own "
                "FRISK_HOME"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the lock
            self._file = None

    def __enter__(self) -> HomeLock:
        return self.acquire()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.release()
