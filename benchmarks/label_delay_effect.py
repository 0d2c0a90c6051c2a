"""What pending labels cost: ``python -m benchmarks.label_delay_effect``.

The simulator of ``benchmarks.quality_protocols`` (63 days, 5,000 payers; test: the last 14 days;
training: all history up to 7 days before the test), trained on the same rows: with the
labels known at the test start (``labels_as_of``: a fraud whose label arrives later counts as
legit, as in a retrain from the ledger) and with the final truth; ``mature`` also trains on the
labels known at the test start, but only on rows at least ``--mature-days`` older than it (labels
that had time to arrive). ``--variants`` picks some. Prints AP, recall per scenario at a 0.5%
budget and each scenario's AP against the legit test events.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timedelta

import polars as pl

from benchmarks.quality_protocols import BUDGET, scenario_separation
from frisk.data.simulator import SimulationConfig, simulate
from frisk.features import compute_offline, resolve_catalogue
from frisk.models import TrainConfig
from frisk.models.dataset import FeatureSpec
from frisk.models.metrics import score_metrics
from frisk.models.train import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--variants", default="known,truth,mature", help="known,truth,mature")
    parser.add_argument("--mature-days", type=int, default=28)
    args = parser.parse_args()
    table = simulate(SimulationConfig(days=63, payers=5_000, seed=args.seed))
    last = table.get_column("timestamp").max()
    assert isinstance(last, datetime)
    test_start = last + timedelta(microseconds=1) - timedelta(days=14)
    train_end = test_start - timedelta(days=7)
    catalogue = resolve_catalogue("default", table)
    features = compute_offline(table, catalogue)
    spec = FeatureSpec(tuple(catalogue.names), tuple(catalogue.categorical))
    test_mask = (pl.col("timestamp") >= test_start) & pl.col("label").is_not_null()
    keep = table.select(test_mask).to_series()
    rows = table.filter(keep)
    print(f"test: {rows.height:,} events, load {os.getloadavg()[0]:.1f}")
    mature_end = test_start - timedelta(days=args.mature_days)
    variants = {
        "known": ("labels known at the test start", test_start, train_end),
        "truth": ("final truth", None, train_end),
        "mature": (
            f"known at the test start, rows {args.mature_days}+ days old",
            test_start,
            mature_end,
        ),
    }
    for key in args.variants.split(","):
        name, as_of, end = variants[key]
        config = TrainConfig(seed=args.seed, labels_as_of=as_of)
        model = Trainer(config).fit(features, table, spec, catalogue=catalogue.to_dict(), end=end)
        scores = model.model_.score_many(features.filter(keep))
        metrics = score_metrics(rows, scores, BUDGET, probabilities=False)
        separation = scenario_separation(rows, scores)
        meta = model.model_.metadata["training"]
        print(
            f"\n{name}: AP {metrics.average_precision:.4f}, {meta['frauds']} training frauds, "
            f"{meta['num_trees']} trees, load {os.getloadavg()[0]:.1f}"
        )
        print("| scenario | recall at 0.5% | AP against legit |")
        print("|---|---|---|")
        for s in metrics.scenarios:
            apart = separation.get(s.scenario, float("nan"))
            print(f"| {s.scenario} | {s.recall:.3f} | {apart:.3f} |")


if __name__ == "__main__":
    main()
