"""``/metrics`` under several workers (prometheus-client's multiprocess mode), with real
processes: each runs with ``PROMETHEUS_MULTIPROC_DIR`` set before prometheus-client is imported,
as ``frisk serve --workers N``'s workers do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

# A worker that counts 3 decisions, had 5 late events and served model "old", then is killed.
_WORKER = """
import os, signal
from frisk.service.metrics import ServiceMetrics
m = ServiceMetrics()
for _ in range(3):
    m.decisions.labels(action="allow", tier="low").inc()
m.late_events.set(5)
m.set_model_version("old")
os.kill(os.getpid(), signal.SIGKILL)
"""

# The worker that answers the scrape: 1 decision, 2 late events, model "new".
_SCRAPED = """
import sys
from frisk.service.metrics import ServiceMetrics
m = ServiceMetrics()
m.decisions.labels(action="allow", tier="low").inc()
m.late_events.set(2)
m.set_model_version("new")
sys.stdout.write(m.render().decode())
"""


def _run(script: str, directory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )


def test_a_killed_workers_gauges_leave_the_group_and_its_counts_stay(tmp_path: Path) -> None:
    killed = _run(_WORKER, tmp_path)
    assert killed.returncode == -9, killed.stderr
    scraped = _run(_SCRAPED, tmp_path)
    assert scraped.returncode == 0, scraped.stderr
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.stdout)
        for s in family.samples
    }
    # Counters: the dead worker's decisions stay in the total, so it never goes back.
    assert samples[("frisk_decisions_total", (("action", "allow"), ("tier", "low")))] == 4
    # Live gauges: only the live worker's (was 7: the killed worker's 5 summed in forever).
    assert samples[("frisk_feature_late_events", ())] == 2
    assert ("frisk_model_info", (("version", "old"),)) not in samples
    assert samples[("frisk_model_info", (("version", "new"),))] == 1
