"""Online features, this checkout against another, in one process:
``python -m benchmarks.ab_features_online --baseline ../main/src [--payers N --events N]``.

Copies the baseline's ``frisk`` package under another name (``frisk_baseline``, its imports
rewritten), warms both executors on the same simulated history, then times ``update`` on the
same events in alternating chunks, so that both see the same load on a shared machine (separate
benchmark processes minutes apart see the load move more than a few per cent). Prints the median
and mean thread CPU per update of each and their ratio.
"""

from __future__ import annotations

import argparse
import gc
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from frisk.data.simulator import SimulationConfig, simulate
from frisk.features import OnlineFeatures, resolve_catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout's src/")
    parser.add_argument("--payers", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        baseline = _import_copy(args.baseline / "frisk", Path(tmp))
        table = simulate(SimulationConfig(days=args.days, payers=args.payers, seed=11))
        history, timed = table.head(table.height - args.events), table.tail(args.events)
        events = list(
            timed.drop("label", "label_timestamp", "label_source", "scenario").iter_rows(named=True)
        )
        base = baseline.OnlineFeatures(baseline.resolve_catalogue("default", table))
        base.warm(history, freeze_gc=False)
        this = OnlineFeatures(resolve_catalogue("default", table))
        this.warm(history, freeze_gc=False)
        gc.collect()
        gc.freeze()
        times: dict[str, list[float]] = {"baseline": [], "this": []}
        clock = time.thread_time_ns
        for start in range(0, len(events), args.chunk):
            part = events[start : start + args.chunk]
            order = [("baseline", base.update), ("this", this.update)]
            if (start // args.chunk) % 2:
                order.reverse()
            for name, update in order:
                out = times[name]
                for event in part:
                    began = clock()
                    update(event)
                    out.append((clock() - began) / 1000)
    a, b = statistics.median(times["baseline"]), statistics.median(times["this"])
    print(
        f"thread CPU per update over {len(events)} events, median: baseline {a:.1f} µs, "
        f"this {b:.1f} µs, ratio {b / a:.3f}; means {statistics.fmean(times['baseline']):.1f} / "
        f"{statistics.fmean(times['this']):.1f} µs"
    )


def _import_copy(package: Path, tmp: Path) -> Any:
    """``package`` (a ``frisk`` source tree) imported as ``frisk_baseline.features``."""
    target = tmp / "frisk_baseline"
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__"))
    pattern = re.compile(r"\bfrisk(?=[. ])(?!_)")
    for path in target.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(pattern.sub("frisk_baseline", text), encoding="utf-8")
    sys.path.insert(0, str(tmp))
    import frisk_baseline.features as features  # type: ignore[import-not-found]

    return features


if __name__ == "__main__":
    main()
