"""Per-worker figures: each worker's file in the shared directory, dead workers left out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from frisk.service.stats import LiveStats
from frisk.service.worker_stats import WorkerStatsWriter, read_workers


def test_live_workers_are_read_and_dead_ones_left_out(tmp_path: Path) -> None:
    stats = LiveStats(100)
    stats.observe("allow", 1.0)
    stats.observe("review", 3.0)
    writer = WorkerStatsWriter(tmp_path, stats).start()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    other = {"pid": os.getppid(), "uptime_seconds": 5.0, "decisions_since_start": {"allow": 7},
             "latency_ms_p50": 1.0, "latency_ms_p99": 2.0}  # fmt: skip
    (tmp_path / f"stats-{other['pid']}.json").write_text(json.dumps(other))
    (tmp_path / f"stats-{dead_pid}.json").write_text(json.dumps({**other, "pid": dead_pid}))
    (tmp_path / "stats-broken.json").write_text("{")
    try:
        workers = read_workers(tmp_path, stats)
    finally:
        writer.close()
    assert [w.pid for w in workers] == sorted([os.getpid(), os.getppid()])
    mine = next(w for w in workers if w.pid == os.getpid())
    assert mine.decisions_since_start == {"allow": 1, "review": 1}
    assert not (tmp_path / f"stats-{os.getpid()}.json").exists()  # removed on close


def test_without_a_directory_the_process_reports_itself() -> None:
    stats = LiveStats(100)
    stats.observe("block", 2.0)
    (only,) = read_workers(None, stats)
    assert (only.pid, only.decisions_since_start) == (os.getpid(), {"block": 1})
