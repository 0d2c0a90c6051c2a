"""Per-worker figures for ``/v1/stats`` and rule hits under ``frisk serve --workers N``.

Each worker's ``LiveStats`` and rule hit counts live in its own memory. So that any worker can
answer for all, every worker writes its figures (uptime, decisions since start by action,
latency percentiles, hits per rule) to
``stats-<pid>.json`` in the supervisor's metrics directory (``PROMETHEUS_MULTIPROC_DIR``) once
a second, and ``read_workers`` reads the files of the workers still alive. Without that
directory the one process reports itself.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from frisk.service.stats import LiveStats

__all__ = [
    "WorkerFigures",
    "WorkerStatsWriter",
    "alive",
    "figures_of",
    "group_hits",
    "read_workers",
]

_PATTERN = "stats-*.json"


@dataclass(frozen=True, slots=True)
class WorkerFigures:
    pid: int
    uptime_seconds: float
    decisions_since_start: dict[str, int]
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    rule_hits: dict[str, int] = field(default_factory=dict)


Hits = Callable[[], Mapping[str, int]]


def figures_of(stats: LiveStats, hits: Hits | None = None) -> WorkerFigures:
    latency = stats.latency_percentiles()
    return WorkerFigures(
        pid=os.getpid(),
        uptime_seconds=round(stats.uptime(), 3),
        decisions_since_start=stats.actions(),
        latency_ms_p50=None if latency is None else round(latency[0], 3),
        latency_ms_p99=None if latency is None else round(latency[1], 3),
        rule_hits={} if hits is None else dict(hits()),
    )


def group_hits(directory: Path | None, stats: LiveStats, hits: Hits) -> dict[str, int]:
    """Hits per rule summed over the live workers (this one's fresh)."""
    total: Counter[str] = Counter()
    for worker in read_workers(directory, stats, hits):
        total.update(worker.rule_hits)
    return dict(total)


def read_workers(
    directory: Path | None, stats: LiveStats, hits: Hits | None = None
) -> list[WorkerFigures]:
    """Every live worker's figures (this one's fresh), by pid; just this one without a
    directory."""
    mine = figures_of(stats, hits)
    if directory is None:
        return [mine]
    found = {mine.pid: mine}
    for path in directory.glob(_PATTERN):
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            figures = WorkerFigures(**data)
        except (OSError, ValueError, TypeError):
            continue  # being replaced, or not ours
        if figures.pid not in found and alive(figures.pid):
            found[figures.pid] = figures
    return [found[pid] for pid in sorted(found)]


def alive(pid: int) -> bool:
    """True while a process with this pid runs (or is not ours to signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerStatsWriter:
    """Writes this worker's figures to ``directory`` every ``interval`` seconds until closed."""

    def __init__(
        self, directory: Path, stats: LiveStats, hits: Hits | None = None, interval: float = 1.0
    ) -> None:
        self.directory = directory
        self.stats = stats
        self.hits = hits
        self.interval = interval
        self.path = directory / f"stats-{os.getpid()}.json"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frisk-worker-stats", daemon=True)

    def start(self) -> WorkerStatsWriter:
        self.write()
        self._thread.start()
        return self

    def write(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps(asdict(figures_of(self.stats, self.hits))), encoding="utf-8"
        )
        temporary.replace(self.path)  # readers never see half a file

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.write()
            except OSError:
                time.sleep(self.interval)  # a full or vanished directory: try again later
