"""The ledger's retention inside the service: ``archive`` on a schedule (``ledger.*`` settings).

Every ``archive_every_hours`` the job moves decisions older than ``retention_days`` (with their
labels and reviews) to the archive, exactly as ``frisk ledger archive`` does, off the request
path: it deletes in short transactions of ``archive_batch`` rows, so recording decisions waits
for one of them at most. Off when ``retention_days`` is unset or the interval is 0 (then run
``frisk ledger archive`` from cron instead). With several service processes on one ledger, each
runs it; a run finding nothing older moves nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from frisk.config import LedgerSettings
from frisk.monitoring.poller import Poller
from frisk.store.ledger import Ledger

__all__ = ["RetentionJob"]

log = logging.getLogger("frisk.monitoring")


class RetentionJob(Poller):
    """Archives what is older than the retention, every ``archive_every_hours``."""

    what = "archiving the ledger past its retention"

    def __init__(self, ledger: Ledger, settings: LedgerSettings, archive: Path) -> None:
        enabled = settings.retention_days is not None
        super().__init__(
            settings.archive_every_hours * 3600 if enabled else 0, name="frisk-retention"
        )
        self.ledger = ledger
        self.settings = settings
        self.archive = archive

    def check(self) -> bool:
        """One run; True when it moved anything."""
        days = self.settings.retention_days
        if days is None:
            return False
        before = datetime.now(UTC) - timedelta(days=days)
        result = self.ledger.archive(
            before,
            self.archive,
            batch=self.settings.archive_batch,
            pause=self.settings.archive_pause_ms / 1000,
        )
        if result.rows["decisions"]:
            log.info(
                "retention: archived %d decisions of %d day(s) before %s into %s in %.1f s",
                result.rows["decisions"],
                len(result.days),
                before.isoformat(),
                self.archive,
                result.seconds,
            )
        return bool(result.rows["decisions"])
