"""Offline features: ``python -m benchmarks.bench_features_offline [--payers N --days D]``.

Simulates about 1M events (``frisk.data.simulator``; 30 days x 30,000 payers), then times
``compute_offline`` with the default catalogue and prints events per second (best and median of
``--repeat`` runs, after one untimed run that pays the one-off costs: loading the compiled loops
from numba's cache, or compiling them on a new machine) next to a reference measured in the same
run: one Polars sort of the table by payer, the least any per-entity computation has to do.
"""

from __future__ import annotations

import argparse
import statistics
import time

import polars as pl

from frisk.data.simulator import SimulationConfig, simulate
from frisk.features import compute_offline, resolve_catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payers", type=int, default=30_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    table = simulate(SimulationConfig(days=args.days, payers=args.payers, seed=11))
    catalogue = resolve_catalogue("default", table)
    n = table.height
    print(f"{n} events, {len(catalogue.names)} features (catalogue {catalogue.version})")

    began = time.perf_counter()
    compute_offline(table, catalogue)
    print(f"first run (untimed: loads or compiles the loops): {time.perf_counter() - began:.2f} s")
    runs = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        frame = compute_offline(table, catalogue)
        runs.append(time.perf_counter() - began)
    assert frame.height == n
    sorts = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        table.select("payer_id", "timestamp").sort("payer_id", maintain_order=True)
        sorts.append(time.perf_counter() - began)
    best, median = min(runs), statistics.median(runs)
    print(
        f"compute_offline: best {best:.2f} s ({n / best:,.0f} events/s), "
        f"median {median:.2f} s ({n / median:,.0f} events/s); runs "
        + ", ".join(f"{r:.2f}" for r in runs)
    )
    print(
        f"reference, one Polars sort by payer: median {statistics.median(sorts):.3f} s; "
        f"ratio {median / statistics.median(sorts):.0f}x"
    )
    print(f"(Polars {pl.__version__}; other work on the machine inflates these figures)")


if __name__ == "__main__":
    main()
