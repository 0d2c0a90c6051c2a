"""Scoring cost: ``python -m benchmarks.bench_scoring [--model DIR --features F] [--rows N]``.

Without ``--model``, trains a model on a synthetic features frame shaped like the default
catalogue (numeric features, a few string categoricals, rare fraud) with Frisk's default
parameters and early stopping. Prints medians of:

- batch: the bare ``Booster.predict(matrix, raw_score=True)`` (reference) against ``score_many``
  (matrix from the frame + predict + calibrate) and ``assess_many`` (+ risk score, tier, action);
- one row: the bare ``Booster.predict`` of a 1-row matrix (reference) against ``score_one``;
- contributions of one row (TreeSHAP) through ``Booster.predict(pred_contrib=True)`` and the fast
  single-row path, and a full ``explain_one`` with sentences.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from frisk.models import FeatureSpec, FraudModel, TrainConfig, Trainer, load_model
from frisk.models.explain import explain_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="artifact directory (default: train one)")
    parser.add_argument("--features", type=Path, help="features Parquet for --model")
    parser.add_argument("--rows", type=int, default=200_000, help="batch size scored")
    parser.add_argument("--numeric", type=int, default=60, help="synthetic numeric features")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    if args.model is not None:
        if args.features is None:
            parser.error("--model needs --features")
        model = load_model(args.model, num_threads=args.threads)
        features = pl.read_parquet(args.features)
    else:
        began = time.perf_counter()
        model, features = _synthetic_model(max(args.rows, 200_000), args.numeric, args.threads)
        print(f"trained a synthetic model in {time.perf_counter() - began:.1f} s")
    features = _repeat_to(features, args.rows)
    print(
        f"model: {model.booster.num_trees()} trees, {len(model.feature_names)} features "
        f"({len(model.spec.categorical)} categorical); batch of {features.height:,} rows, "
        f"{args.threads} threads"
    )

    matrix = model.matrix(features)
    bare = _median(lambda: model.booster.predict(matrix, raw_score=True), args.repeat)
    many = _median(lambda: model.score_many(features), args.repeat)
    assess = _median(lambda: model.assess_many(features), args.repeat)
    to_matrix = _median(lambda: model.matrix(features), args.repeat)
    n = features.height
    cpu = _cpu(lambda: model.booster.predict(matrix, raw_score=True), args.repeat)
    print("batch (events/s, median):")
    print(f"  booster.predict on a ready matrix   {n / bare:>12,.0f}   (reference)")
    print(
        f"  booster.predict per CPU-second        {n / cpu:>12,.0f}   "
        "(what one idle core would do; wall time above suffers when cores are shared)"
    )
    print(f"  frame -> matrix only                {n / to_matrix:>12,.0f}")
    print(f"  score_many (matrix+predict+calib.)  {n / many:>12,.0f}   x{many / bare:.2f} time")
    print(f"  assess_many (+risk score/tier/act.) {n / assess:>12,.0f}   x{assess / bare:.2f} time")

    vectors = [list(r) for r in features.select(model.feature_names).head(1000).iter_rows()]
    rows = [model.row(v).reshape(1, -1) for v in vectors]
    one_bare = _per_call(lambda i: model.booster.predict(rows[i], raw_score=True), len(rows))
    one_fast = _per_call(lambda i: model.score_one(vectors[i]), len(rows))
    contrib = _per_call(
        lambda i: model.booster.predict(rows[i], pred_contrib=True), min(len(rows), 200)
    )
    contrib_fast = _per_call(lambda i: model.contributions_one(vectors[i]), min(len(rows), 200))
    explain = _per_call(lambda i: explain_one(model, vectors[i], 3), min(len(rows), 200))
    print("one event (µs per call, median):")
    print(f"  booster.predict, 1-row matrix       {one_bare:>10.1f}   (reference)")
    print(f"  score_one (encode+fast path+calib.) {one_fast:>10.1f}   x{one_fast / one_bare:.2f}")
    print(f"  booster.predict(pred_contrib=True)  {contrib:>10.1f}   x{contrib / one_bare:.1f}")
    print(
        f"  contributions_one (fast path)       {contrib_fast:>10.1f}   "
        f"x{contrib_fast / one_bare:.1f}"
    )
    print(f"  explain_one (top 3, sentences)      {explain:>10.1f}   x{explain / one_bare:.1f}")


def _median(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def _cpu(run: Callable[[], object], repeat: int) -> float:
    """Median process CPU seconds of ``run`` (all threads): load-independent cost."""
    seconds = []
    for _ in range(repeat):
        began = time.process_time()
        run()
        seconds.append(time.process_time() - began)
    return statistics.median(seconds)


def _per_call(run: Callable[[int], object], calls: int) -> float:
    """Median µs of ``run(i)`` over ``calls`` different rows, after a warm-up pass."""
    for i in range(min(calls, 50)):
        run(i)
    times = []
    for i in range(calls):
        began = time.perf_counter_ns()
        run(i)
        times.append(time.perf_counter_ns() - began)
    return statistics.median(times) / 1000.0


def _repeat_to(frame: pl.DataFrame, rows: int) -> pl.DataFrame:
    copies = -(-rows // max(frame.height, 1))
    return pl.concat([frame] * copies).head(rows)


def _synthetic_model(n: int, numeric: int, threads: int) -> tuple[FraudModel, pl.DataFrame]:
    """A model on synthetic data: skewed amounts and counts, some missing, 1% fraud."""
    rng = np.random.default_rng(7)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    seconds = np.sort(rng.uniform(0, 60 * 86_400, n))
    columns: dict[str, object] = {"transaction_id": [f"t{i}" for i in range(n)]}
    signal = np.zeros(n)
    for j in range(numeric):
        values = rng.lognormal(0.0, 1.0, n) if j % 2 else rng.poisson(2.0, n).astype(float)
        values[rng.random(n) < 0.05] = np.nan
        weight = 0.8 / (1 + j / 4)
        signal += weight * np.nan_to_num(np.log1p(values), nan=0.0) * (1 if j % 3 else -1)
        columns[f"f{j:02d}"] = values
    categories = {
        "channel": ["card", "upi", "wallet", "bank_transfer", "cash_out"],
        "currency": ["EUR", "USD", "GBP", "INR"],
        "merchant_category": [f"mcc{k}" for k in range(30)],
    }
    for name, levels in categories.items():
        picked = rng.integers(0, len(levels), n)
        signal += 0.3 * (picked == 0)
        columns[name] = [levels[k] for k in picked]
    logit = signal - np.quantile(signal, 0.99) - 1.5
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    features = pl.DataFrame(columns)
    events = pl.DataFrame(
        {
            "transaction_id": features.get_column("transaction_id"),
            "timestamp": pl.Series(
                [start + timedelta(seconds=float(s)) for s in seconds],
                dtype=pl.Datetime("us", "UTC"),
            ),
            "label": label,
        }
    )
    names = tuple(c for c in features.columns if c != "transaction_id")
    spec = FeatureSpec(names, tuple(categories))
    model = Trainer(TrainConfig(num_threads=threads)).fit(features, events, spec).model_
    return model, features


if __name__ == "__main__":
    main()
