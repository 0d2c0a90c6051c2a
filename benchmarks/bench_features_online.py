"""Online features: ``python -m benchmarks.bench_features_online [--payers N --events N]``.

Warms ``OnlineFeatures`` (default catalogue) on simulated history, then times ``update`` event by
event on the following events and prints p50, p99 and max µs per event, next to a reference
measured in the same run: a bare loop doing one dict update per event on the same events. Also
prints the GC setting (``warm`` freezes the warmed state; ``--gc-threshold`` sets the young
generation's threshold, as a service would), the longest GC pause seen while timing, and the
state's memory per entity record (tracemalloc around a second, separate warm).
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
from frisk.features import MemoryStore, OnlineFeatures, resolve_catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payers", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--events", type=int, default=20_000, help="events timed after warm")
    parser.add_argument("--gc-threshold", type=int, default=0, help="gen-0 threshold (0: keep)")
    args = parser.parse_args()
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])

    table = simulate(SimulationConfig(days=args.days, payers=args.payers, seed=11))
    catalogue = resolve_catalogue("default", table)
    history, timed = table.head(table.height - args.events), table.tail(args.events)
    events = list(
        timed.drop("label", "label_timestamp", "label_source", "scenario").iter_rows(named=True)
    )

    # Memory first, on its own executor: tracemalloc slows the warm and perturbs timings.
    store = MemoryStore()
    measured = OnlineFeatures(catalogue, store)
    tracemalloc.start()
    measured.warm(history, freeze_gc=False)
    memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    entities = sum(
        len(store.keys(space.name))
        for space in measured.layout.spaces
        if space.name.startswith("key:")
    )
    del measured, store
    gc.collect()

    online = OnlineFeatures(catalogue)
    online.warm(history)
    pauses: list[float] = []
    gc.callbacks.append(_pause_meter(pauses))
    timings, cpu = _time(online.update, events)
    gc.callbacks.clear()
    counts: dict[str, int] = {}

    def bare(event: dict[str, Any]) -> None:
        counts[event["payer_id"]] = counts.get(event["payer_id"], 0) + 1

    reference, _ = _time(bare, events)
    median, ref = statistics.median(timings), statistics.median(reference)
    p99 = statistics.quantiles(timings, n=100)[98]
    print(
        f"warm: {history.height} events; timed: {len(events)} events, "
        f"{len(catalogue.names)} features"
    )
    print(f"update: p50 {median:.1f} µs, p99 {p99:.1f} µs, max {max(timings) / 1000:.2f} ms")
    print(
        f"update, CPU time of this thread (other processes' load left out): "
        f"p50 {statistics.median(cpu):.1f} µs, p99 {statistics.quantiles(cpu, n=100)[98]:.1f} µs"
    )
    print(
        f"gc: threshold {gc.get_threshold()}, warmed state frozen ({gc.get_freeze_count()} "
        f"objects); {len(pauses)} collections while timing, longest {max(pauses, default=0):.2f} ms"
    )
    print(f"reference, bare dict update: median {ref:.2f} µs; ratio {median / ref:.0f}x")
    print(
        f"state: {memory / 2**20:.0f} MiB for {entities} entity records "
        f"({memory / max(entities, 1):.0f} bytes per entity record, all keys)"
    )
    print(f"(Polars {pl.__version__}; other work on the machine inflates these figures)")


def _pause_meter(pauses: list[float]) -> Any:
    began = [0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter_ns()
        else:
            pauses.append((time.perf_counter_ns() - began[0]) / 1e6)

    return callback


def _time(function: Any, events: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Wall-clock and thread CPU µs of each call."""
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    wall, cpu = [], []
    gc.collect()
    for event in events:
        began, cpu_began = clock(), cpu_clock()
        function(event)
        cpu.append((cpu_clock() - cpu_began) / 1000)
        wall.append((clock() - began) / 1000)
    return wall, cpu


if __name__ == "__main__":
    main()
