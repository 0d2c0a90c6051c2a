"""Model quality across protocols: ``python -m benchmarks.quality_protocols [--quick]``.

On Sparkov and PaySim (``../shared/datasets/``, read through ``examples/mappings``; skipped when
absent) and on the simulator, for training windows of 7 days, 28 days and all history, each
ending a label-delay gap before the test period, with training labels as known at the start of
the test period (``labels_as_of``: a fraud whose label arrives later counts as legit, as in a
retrain from the ledger). Scorers, all on the same rows and labels:

- ``frisk``: the default catalogue and Frisk's training (rolling-origin validation, calibration);
- ``frisk, previous catalogue``: the same training on the default catalogue before issue #23
  (``benchmarks/catalogues/previous_default.toml``);
- ``logistic regression``: Frisk's logistic baseline on the default catalogue's features;
- ``plain LightGBM``: LightGBM's defaults (100 trees, no early stopping, no weighting) on them.

Reported: AP, ROC AUC, recall, precision and amount recall at a 0.5% alert budget, and recall
per scenario on the simulator. A training window holding fewer than 200 known frauds (a Sparkov
week holds ~18) is reported but marked "not judged". ``--quick`` subsamples payers (by a hash
of the id) for a development run; ``--scenarios`` adds the simulator at the size of
docs/BENCHMARKS.md (42 days, 20,000 payers, trained on final truth to day 28, tested on days
28-42; ``--candidate FILE`` adds a catalogue to compare), with each scenario's AP against legit
events (its separation, whatever the other scenarios take of the budget) and whether the issue's
recall targets fit in the budget at all.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from frisk.data.importer import read_events
from frisk.data.mapping import Mapping
from frisk.data.simulator import SimulationConfig, simulate
from frisk.features import Catalogue, compute_offline, resolve_catalogue
from frisk.models import TrainConfig
from frisk.models.baselines import LogisticBaseline
from frisk.models.dataset import FeatureSpec, to_matrix
from frisk.models.encoding import CategoryEncoder
from frisk.models.lightgbm_import import import_lightgbm
from frisk.models.metrics import average_precision, score_metrics
from frisk.models.train import Trainer

ROOT = Path(__file__).parents[1]


SCORERS = ("frisk", "frisk, previous catalogue", "logistic regression", "plain LightGBM")


def _datasets() -> Path:
    """``FRISK_DATASETS``, else ``shared/datasets`` beside the checkout (or beside a worktree's
    parent folder, for a checkout under ``wt/``)."""
    given = os.environ.get("FRISK_DATASETS")
    if given:
        return Path(given)
    near = [p / "shared" / "datasets" for p in (ROOT.parent, ROOT.parent.parent)]
    return next((p for p in near if p.is_dir()), near[0])


DATASETS = _datasets()
PREVIOUS = ROOT / "benchmarks" / "catalogues" / "previous_default.toml"
BUDGET = 0.005
JUDGED_FRAUDS = 200
# Issue #23's recall targets at the 0.5% budget on the docs-size simulator; every other scenario
# may lose at most TARGET_SLACK against the reference (the previous catalogue, same run).
TARGETS = {"compromised_merchant": 0.70, "amount_anomaly": 0.60}
TARGET_SLACK = 0.03
DAY = timedelta(days=1)
WINDOWS: tuple[tuple[str, timedelta | None], ...] = (
    ("7d", 7 * DAY),
    ("28d", 28 * DAY),
    ("all", None),
)


@dataclass(frozen=True)
class Case:
    name: str
    test: timedelta  # the test period: the last ``test`` of the data
    gap: timedelta  # label delay between the training window's end and the test period
    file: str = ""
    mapping: str = ""
    simulation: SimulationConfig | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def cases(quick: bool) -> list[Case]:
    payers = 2_000 if quick else 5_000
    return [
        Case(
            "sparkov", 12 * 7 * DAY, 7 * DAY, "sparkov_250cards_2019-2020.parquet", "sparkov.toml"
        ),
        Case("paysim", 5 * DAY, DAY, "paysim_steps300-719.parquet", "paysim.toml"),
        Case("simulator", 14 * DAY, 7 * DAY, simulation=SimulationConfig(days=63, payers=payers)),
    ]


def render(paths: list[Path]) -> None:
    """Print the tables of earlier runs' ``--out`` files together."""
    results: list[dict[str, Any]] = []
    for path in paths:
        results += json.loads(path.read_text(encoding="utf-8"))
    print_tables(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["sparkov", "paysim", "simulator"])
    parser.add_argument("--quick", action="store_true", help="subsample payers (development)")
    parser.add_argument("--fraction", type=float, default=None, help="share of payers kept")
    parser.add_argument("--windows", default="7d,28d,all", help="comma-separated: 7d,28d,all")
    parser.add_argument("--scenarios", action="store_true", help="add the docs simulator run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--candidate", type=Path, default=None, help="a catalogue TOML also run with --scenarios"
    )
    parser.add_argument(
        "--scorers",
        default=";".join(SCORERS),
        help=f"separated by ';', from: {'; '.join(SCORERS)}",
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=None,
        help="days between training and test for every data set (default: each one's own; 0: "
        "a retrain at the test period's start, its youngest labels still to come)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--render", type=Path, nargs="+", help="only print earlier --out files")
    args = parser.parse_args()
    if args.render:
        render(args.render)
        return
    fraction = args.fraction if args.fraction is not None else (0.3 if args.quick else 1.0)
    windows = [w for w in WINDOWS if w[0] in args.windows.split(",")]
    scorers = tuple(name.strip() for name in args.scorers.split(";"))
    unknown = set(scorers) - set(SCORERS)
    if unknown:
        parser.error(f"unknown scorers: {', '.join(sorted(unknown))}")
    results: list[dict[str, Any]] = []
    for case in cases(args.quick):
        if args.only and case.name != args.only:
            continue
        if args.gap is not None:
            case = replace(case, gap=timedelta(days=args.gap))
        table = load(case, fraction)
        if table is None:
            continue
        results += run_case(case, table, windows, args.seed, scorers)
    if args.scenarios and args.only in (None, "simulator"):
        results += run_scenarios(args.seed, args.candidate)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    print_tables(results)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


def load(case: Case, fraction: float) -> pl.DataFrame | None:
    if case.simulation is not None:
        table = simulate(case.simulation)
    else:
        path = DATASETS / case.file
        if not path.is_file():
            print(f"{case.name}: {path} is not on this machine; skipped")
            return None
        mapping = Mapping.load(ROOT / "examples" / "mappings" / case.mapping)
        table = read_events(path, mapping).table
    if fraction < 1.0:
        # Whole payers, so that every kept payer keeps its history.
        cut = int(fraction * 2**32)
        table = table.filter((pl.col("payer_id").hash(seed=1) % 2**32) < cut)
    return table


def run_case(
    case: Case,
    table: pl.DataFrame,
    windows: list[tuple[str, timedelta | None]],
    seed: int,
    scorers: tuple[str, ...] = SCORERS,
) -> list[dict[str, Any]]:
    ts = table.get_column("timestamp")
    last = ts.max()
    assert isinstance(last, datetime)
    test_end = last + timedelta(microseconds=1)
    test_start = test_end - case.test
    train_end = test_start - case.gap
    first = ts.min()
    assert isinstance(first, datetime)
    catalogues = {
        "default": resolve_catalogue("default", table),
        "previous": resolve_catalogue(PREVIOUS, table),
    }
    began = time.perf_counter()
    features = {name: compute_offline(table, c) for name, c in catalogues.items()}
    feature_seconds = time.perf_counter() - began
    test_mask = (ts >= test_start) & (ts < test_end) & table.get_column("label").is_not_null()
    test_rows = table.filter(test_mask)
    test_frauds = int(test_rows.get_column("label").sum())
    print(
        f"\n{case.name}: {table.height:,} events {first:%Y-%m-%d} .. {last:%Y-%m-%d}; test "
        f"{test_start:%Y-%m-%d %H:%M} .. {test_end:%Y-%m-%d %H:%M} ({test_rows.height:,} events, "
        f"{test_frauds} frauds); gap {case.gap.days}d; features {feature_seconds:.0f} s; "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = []
    covered = False  # a window already reached back to the first event: "all" would repeat it
    for window, length in windows:
        start = None if length is None else max(first, train_end - length)
        if start is None and covered:
            continue
        covered = covered or start == first
        span = (train_end - (start or first)).total_seconds() / 86_400
        for scorer in scorers:
            cat_name = "previous" if "previous" in scorer else "default"
            catalogue, frame = catalogues[cat_name], features[cat_name]
            began = time.perf_counter()
            scores, info = fit_and_score(
                scorer, catalogue, frame, table, start, train_end, test_start, test_mask, seed
            )
            seconds = time.perf_counter() - began
            metrics = score_metrics(test_rows, scores, BUDGET, probabilities=False)
            row = {
                "data": case.name,
                "window": window,
                "train_days": round(span, 1),
                "scorer": scorer,
                "train_frauds": info.get("train_frauds"),
                "test_events": test_rows.height,
                "test_frauds": test_frauds,
                # Judged when the training window holds enough known frauds to learn from.
                "judged": (info.get("train_frauds") or 0) >= JUDGED_FRAUDS,
                "average_precision": metrics.average_precision,
                "roc_auc": metrics.roc_auc,
                "recall": metrics.at_budget.recall,
                "precision": metrics.at_budget.precision,
                "amount_recall": metrics.at_budget.amount_recall,
                "scenarios": {s.scenario: s.recall for s in metrics.scenarios},
                "seconds": round(seconds, 1),
                **{k: v for k, v in info.items() if k != "train_frauds"},
            }
            print(_line(row), flush=True)
            results.append(row)
    return results


def fit_and_score(
    scorer: str,
    catalogue: Catalogue,
    features: pl.DataFrame,
    table: pl.DataFrame,
    start: datetime | None,
    end: datetime,
    as_of: datetime,
    test_mask: pl.Series,
    seed: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    spec = FeatureSpec(tuple(catalogue.names), tuple(catalogue.categorical))
    test_features = features.filter(test_mask)
    if scorer.startswith("frisk"):
        config = TrainConfig(seed=seed, labels_as_of=as_of)
        trainer = Trainer(config).fit(
            features, table, spec, catalogue=catalogue.to_dict(), start=start, end=end
        )
        meta = trainer.model_.metadata
        info = {
            "train_frauds": meta["training"]["frauds"],
            "trees": meta["training"]["num_trees"],
            "calibration": meta["calibration"]["method"],
        }
        return trainer.model_.score_many(test_features), info
    ts = table.get_column("timestamp")
    keep = (ts < end) & table.get_column("label").is_not_null()
    if start is not None:
        keep = keep & (ts >= start)
    rows = table.filter(keep)
    labels = known_labels(rows, as_of)
    train_features = features.filter(keep)
    info = {"train_frauds": int(labels.sum())}
    if scorer == "logistic regression":
        names = [c for c in features.columns if c != "transaction_id"]
        model = LogisticBaseline(names, catalogue.categorical, seed=seed).fit(
            train_features, labels
        )
        return model.score_many(test_features), info
    lightgbm = import_lightgbm()
    encoder = CategoryEncoder(min_count=20).fit(train_features, spec.categorical)
    data = lightgbm.Dataset(
        to_matrix(train_features, spec, encoder),
        labels.astype(np.float64),
        feature_name=list(spec.names),
        categorical_feature=spec.categorical_indices,
    )
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": seed}
    booster = lightgbm.train(params, data, num_boost_round=100)
    return np.asarray(booster.predict(to_matrix(test_features, spec, encoder))), info


def known_labels(rows: pl.DataFrame, as_of: datetime) -> np.ndarray:
    """1 for fraud whose label arrived before ``as_of``, else 0 (``TrainConfig.labels_as_of``)."""
    fraud = pl.col("label").fill_null(0) == 1
    if "label_timestamp" in rows.columns:
        fraud = fraud & (pl.col("label_timestamp") < as_of).fill_null(False)
    return rows.select(fraud.cast(pl.Int8)).to_series().to_numpy()


def run_scenarios(seed: int, candidate: Path | None = None) -> list[dict[str, Any]]:
    """The simulator as docs/BENCHMARKS.md runs it: final truth, train to day 28, test 28-42."""
    table = simulate(SimulationConfig(days=42, payers=20_000, seed=seed))
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end, test_end = start + 28 * DAY, start + 42 * DAY
    ts = table.get_column("timestamp")
    test_mask = (ts >= end) & (ts < test_end) & table.get_column("label").is_not_null()
    test_rows = table.filter(test_mask)
    results = []
    print(
        f"\nsimulator (docs size): {table.height:,} events, test {test_rows.height:,}", flush=True
    )
    sources: list[tuple[str, str | Path]] = [
        ("frisk", "default"),
        ("frisk, previous catalogue", PREVIOUS),
    ]
    if candidate is not None:
        sources.append((f"frisk, candidate {candidate.name}", candidate))
    for name, source in sources:
        catalogue = resolve_catalogue(source, table)
        features = compute_offline(table, catalogue)
        spec = FeatureSpec(tuple(catalogue.names), tuple(catalogue.categorical))
        began = time.perf_counter()
        model = (
            Trainer(TrainConfig(seed=seed))
            .fit(features, table, spec, catalogue=catalogue.to_dict(), end=end)
            .model_
        )
        scores = model.score_many(features.filter(test_mask))
        metrics = score_metrics(test_rows, scores, BUDGET, probabilities=False)
        wider = score_metrics(test_rows, scores, 2 * BUDGET, probabilities=False)
        row = {
            "data": "simulator (docs size)",
            "window": "all (final truth)",
            "train_days": 28.0,
            "scorer": name,
            "test_events": test_rows.height,
            "test_frauds": int(test_rows.get_column("label").sum()),
            "judged": True,
            "average_precision": metrics.average_precision,
            "roc_auc": metrics.roc_auc,
            "recall": metrics.at_budget.recall,
            "precision": metrics.at_budget.precision,
            "amount_recall": metrics.at_budget.amount_recall,
            "scenarios": {s.scenario: s.recall for s in metrics.scenarios},
            "scenarios_at_1pct": {s.scenario: s.recall for s in wider.scenarios},
            "scenario_ap": scenario_separation(test_rows, scores),
            "scenario_counts": {s.scenario: s.frauds for s in metrics.scenarios},
            "trees": model.metadata["training"]["num_trees"],
            "seconds": round(time.perf_counter() - began, 1),
        }
        print(_line(row), flush=True)
        results.append(row)
    for row in results:
        print(f"{row['scorer']}: {budget_cap(row, results[1])}")
    return results


def scenario_separation(rows: pl.DataFrame, scores: np.ndarray) -> dict[str, float]:
    """AP of each scenario's frauds against all legit events: how well the scorer tells that
    scenario from legit, whatever the other scenarios take of the budget."""
    labels = rows.get_column("label").to_numpy()
    scenario = rows.get_column("scenario").cast(pl.String).fill_null("").to_numpy()
    legit = labels == 0
    out = {}
    for name in sorted(set(scenario[labels == 1].tolist()) - {""}):
        keep = legit | ((labels == 1) & (scenario == name))
        out[name] = average_precision(labels[keep], scores[keep])
    return out


def budget_cap(row: dict[str, Any], reference: dict[str, Any]) -> str:
    """Whether any scorer could meet the targets: the frauds they need caught against the
    alerts the budget allows (every alert a fraud)."""
    alerts = round(BUDGET * row["test_events"])
    frauds = row["test_frauds"]
    counts = row["scenario_counts"]
    need = sum(
        counts[name]
        * TARGETS.get(name, max(0.0, reference["scenarios"].get(name, 0.0) - TARGET_SLACK))
        for name in counts
    )
    verdict = "within" if need <= alerts else "beyond"
    return (
        f"targets at {BUDGET:.1%}: {need:,.0f} of {frauds:,} test frauds must be alerted, the "
        f"budget holds {alerts:,} alerts: {verdict} what any scorer can reach"
    )


def print_tables(results: list[dict[str, Any]]) -> None:
    print(
        "\n| data | window | scorer | train frauds | test frauds | AP | ROC AUC | recall | "
        "precision | amount recall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        judged = "" if r["judged"] else " (not judged)"
        print(
            f"| {r['data']} | {r['window']} ({r['train_days']:g} d){judged} | {r['scorer']} | "
            f"{r.get('train_frauds', '-')} | {r['test_frauds']} | "
            f"{_f(r['average_precision'], 4)} | {_f(r['roc_auc'], 4)} | {_f(r['recall'])} | "
            f"{_f(r['precision'])} | "
            f"{_f(r['amount_recall'])} |"
        )
    with_scenarios = [r for r in results if r["scenarios"]]
    if with_scenarios:
        names = sorted({s for r in with_scenarios for s in r["scenarios"]})
        print("\n| data | window | scorer | " + " | ".join(names) + " |")
        print("|---|---|---|" + "---|" * len(names))
        for r in with_scenarios:
            cells = " | ".join(_f(r["scenarios"].get(n, math.nan)) for n in names)
            print(f"| {r['data']} | {r['window']} | {r['scorer']} | {cells} |")
            if r.get("scenarios_at_1pct"):
                wide = " | ".join(_f(r["scenarios_at_1pct"].get(n, math.nan)) for n in names)
                print(f"| {r['data']} | {r['window']} | {r['scorer']} (1% budget) | {wide} |")
            if r.get("scenario_ap"):
                ap = " | ".join(_f(r["scenario_ap"].get(n, math.nan)) for n in names)
                print(f"| {r['data']} | {r['window']} | {r['scorer']} (AP against legit) | {ap} |")


def _line(r: dict[str, Any]) -> str:
    extra = f", {r['trees']} trees" if "trees" in r else ""
    return (
        f"  {r['window']:>4} {r['scorer']:<27} AP {_f(r['average_precision'])} AUC "
        f"{_f(r['roc_auc'])} recall {_f(r['recall'])} precision {_f(r['precision'])} amount "
        f"{_f(r['amount_recall'])} ({r['seconds']} s{extra})"
    )


def _f(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) and value == value else "-"


if __name__ == "__main__":
    main()
