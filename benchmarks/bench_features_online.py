"""Online features: ``python -m benchmarks.bench_features_online [--warm N --events N]``.

Warms ``OnlineFeatures`` (default catalogue) on simulated history, then times ``update`` event by
event on the following events and prints the median and p99 µs per event, next to a reference
measured in the same run: a bare loop doing one dict update per event on the same events. Also
prints the state's memory per active entity (tracemalloc around the warm) and the longest
single ``update`` (GC pauses show there).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from typing import Any

import polars as pl

from frisk.data.simulator import SimulationConfig, simulate
from frisk.features import OnlineFeatures, resolve_catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payers", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events", type=int, default=20_000, help="events timed after warm")
    args = parser.parse_args()

    table = simulate(SimulationConfig(days=args.days, payers=args.payers, seed=11))
    catalogue = resolve_catalogue("default", table)
    history, timed = table.head(table.height - args.events), table.tail(args.events)
    events = list(
        timed.drop("label", "label_timestamp", "label_source", "scenario").iter_rows(named=True)
    )

    online = OnlineFeatures(catalogue)
    tracemalloc.start()
    online.warm(history)
    memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    entities = sum(len(space) for name, space in online.store.spaces() if name.startswith("key:"))

    timings = _time(online.update, events)
    counts: dict[str, int] = {}

    def bare(event: dict[str, Any]) -> None:
        counts[event["payer_id"]] = counts.get(event["payer_id"], 0) + 1

    reference = _time(bare, events)
    median, ref = statistics.median(timings), statistics.median(reference)
    p99 = statistics.quantiles(timings, n=100)[98]
    print(
        f"warm: {history.height} events; timed: {len(events)} events, "
        f"{len(catalogue.names)} features"
    )
    print(f"update: median {median:.1f} µs, p99 {p99:.1f} µs, max {max(timings) / 1000:.1f} ms")
    print(f"reference, bare dict update: median {ref:.2f} µs; ratio {median / ref:.0f}x")
    print(
        f"state: {memory / 2**20:.0f} MiB for {entities} entity records "
        f"({memory / max(entities, 1):.0f} bytes per entity record, all keys)"
    )
    print(f"(Polars {pl.__version__}; other work on the machine inflates these figures)")


def _time(function: Any, events: list[dict[str, Any]]) -> list[float]:
    clock = time.perf_counter_ns
    out = []
    gc.collect()
    for event in events:
        began = clock()
        function(event)
        out.append((clock() - began) / 1000)
    return out


if __name__ == "__main__":
    main()
