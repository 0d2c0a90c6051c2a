"""Training cost: ``python -m benchmarks.bench_training [--events F | --days D --payers P]``.

Without ``--events``, simulates about 1M events (``frisk simulate --days 30 --payers 30000
--seed 7``), then times, ``--repeat`` times each, the two parts of ``frisk train``: offline
features over the whole table (default catalogue) and the fit on the first ``--train-days`` days
(booster with early stopping, calibration, thresholds). Prints medians, the trees kept and the
validation metrics, so a faster setting can be checked for what it costs in quality. ``--params``
passes LightGBM overrides as JSON, ``--threads`` the thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import timedelta
from pathlib import Path

from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import read_table
from frisk.features import compute_offline, resolve_catalogue
from frisk.models import FeatureSpec, TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=Path, help="canonical Parquet (default: simulate)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--payers", type=int, default=30_000)
    parser.add_argument("--train-days", type=int, default=23)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--params", default="{}", help="LightGBM overrides (JSON)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    if args.events is not None:
        table = read_table(args.events)
    else:
        table = simulate(SimulationConfig(days=args.days, payers=args.payers, seed=7))
    catalogue = resolve_catalogue("default", table)
    print(
        f"{table.height:,} events, {len(catalogue.names)} features; {args.threads} thread(s); "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    feature_runs: list[float] = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        features = compute_offline(table, catalogue)
        feature_runs.append(time.perf_counter() - began)

    end = table.get_column("timestamp").min() + timedelta(days=args.train_days)  # type: ignore[operator]
    spec = FeatureSpec(tuple(catalogue.names), tuple(catalogue.categorical))
    config = TrainConfig(num_threads=args.threads, params=json.loads(args.params))
    fit_runs: list[float] = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        model = Trainer(config).fit(features, table, spec, end=end).model_
        fit_runs.append(time.perf_counter() - began)

    training = model.metadata["training"]
    validation = model.metadata["metrics"]["validation"]
    holdout = model.metadata["metrics"]["holdout"]
    print(
        f"features: median {statistics.median(feature_runs):.1f} s "
        f"(runs {', '.join(f'{s:.1f}' for s in feature_runs)})"
    )
    print(
        f"fit:      median {statistics.median(fit_runs):.1f} s "
        f"(runs {', '.join(f'{s:.1f}' for s in fit_runs)}) on {training['rows']:,} labelled "
        f"events, {training['fit_rows_used']:,} fit rows used "
        f"(legit sample rate {training['legit_sample_rate']:.3f}), {training['num_trees']} trees"
    )
    print(f"total:    median {statistics.median(feature_runs) + statistics.median(fit_runs):.1f} s")
    print(
        f"validation AUC {validation['roc_auc']:.4f} AP {validation['average_precision']:.4f} "
        f"recall@budget {validation['recall_at_budget']:.3f}; held-out AP "
        f"{holdout['average_precision']:.4f}"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
