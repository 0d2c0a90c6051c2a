"""The ledger's day partitions kept ahead inside the service (PostgreSQL; ``ledger.*`` settings).

``decisions`` on PostgreSQL is partitioned by day (``frisk.store.partitions``): the migration,
every ``open_ledger`` that migrates and every archive run create the partitions of today and the
next 14 days. A service that runs longer than that without retention and without a restart would
then record into the default partition; this job creates the missing days as the service starts
and every ``partition_check_seconds`` after. A failing run is logged, counted (``failures``) and
tried again at the next interval. Nothing on SQLite (the ledger's call does nothing there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime

from frisk.config import LedgerSettings
from frisk.monitoring.poller import Poller
from frisk.store.ledger import Ledger

__all__ = ["PartitionJob"]

log = logging.getLogger("frisk.monitoring")


def _today() -> date:
    return datetime.now(UTC).date()


class PartitionJob(Poller):
    """Creates the coming days' partitions of ``decisions``, at start and every interval."""

    what = "creating the ledger's partitions ahead"

    def __init__(
        self, ledger: Ledger, settings: LedgerSettings, *, today: Callable[[], date] = _today
    ) -> None:
        super().__init__(settings.partition_check_seconds, name="frisk-partitions", at_start=True)
        self.ledger = ledger
        self.today = today
        self.failures = 0

    def check(self) -> bool:
        """One run; True when it created any partition."""
        try:
            made = self.ledger.ensure_partitions(self.today())
        except Exception:
            self.failures += 1
            raise
        if made:
            log.info(
                "partitions: created %d day partition(s) of decisions, %s to %s",
                len(made),
                made[0].isoformat(),
                made[-1].isoformat(),
            )
        return bool(made)
