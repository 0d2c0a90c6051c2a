"""Simulator throughput: ``python -m benchmarks.bench_simulate [--days N] [--payers N] [--runs N]``.

Prints the median wall-clock of a few runs of ``simulate`` (in memory, no Parquet) and rows/s,
and the time to write the table once.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import write_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--payers", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = SimulationConfig(days=args.days, payers=args.payers, seed=args.seed)
    seconds = []
    rows = 0
    for _ in range(args.runs):
        began = time.perf_counter()
        table = simulate(config)
        seconds.append(time.perf_counter() - began)
        rows = table.height
    median = statistics.median(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        write_table(table, Path(tmp) / "sim.parquet")
        write = time.perf_counter() - began
    print(
        f"simulate days={args.days} payers={args.payers}: {rows:,} rows; "
        f"median {median:.2f} s of {args.runs} (best {min(seconds):.2f} s), "
        f"{rows / median:,.0f} rows/s; write Parquet {write:.2f} s"
    )


if __name__ == "__main__":
    main()
