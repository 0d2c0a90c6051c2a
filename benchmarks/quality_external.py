"""Model quality on external data: ``python -m benchmarks.quality_external [--only NAME]``.

Reads the shared data sets (``../shared/datasets/``, see its README; skipped when absent) through
the example mappings, trains Frisk on each data set's training window and evaluates on its test
window at a 0.5% alert budget, next to Frisk's two baselines (logistic regression and an
amount-velocity rule) and the reference figures of the data sets' README. The same as
``frisk import`` + ``frisk train`` + ``frisk evaluate`` with the defaults.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from frisk.data.importer import read_events
from frisk.data.mapping import Mapping
from frisk.models import TrainConfig
from frisk.models.evaluate import evaluate_artifact
from frisk.models.pipeline import train_events

ROOT = Path(__file__).parents[1]


def _datasets() -> Path:
    """``FRISK_DATASETS``, else ``shared/datasets`` beside the checkout (or beside a worktree's
    parent folder, for a checkout under ``wt/``)."""
    given = os.environ.get("FRISK_DATASETS")
    if given:
        return Path(given)
    near = [p / "shared" / "datasets" for p in (ROOT.parent, ROOT.parent.parent)]
    return next((p for p in near if p.is_dir()), near[0])


DATASETS = _datasets()


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    mapping: str
    train: tuple[datetime, datetime]
    test: tuple[datetime, datetime]
    # (model, AUC, AP, recall, precision, amount recall) at 0.5%, from the data sets' README.
    reference: tuple[tuple[str, float, float, float, float, float], ...]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


CASES = (
    Case(
        "sparkov",
        "sparkov_250cards_2019-2020.parquet",
        "sparkov.toml",
        (utc(2019, 1, 1), utc(2020, 7, 1)),
        (utc(2020, 7, 1), utc(2021, 1, 1)),
        (
            ("reference logistic regression", 0.686, 0.106, 0.272, 0.261, 0.512),
            ("reference gradient boosting", 0.988, 0.748, 0.709, 0.680, 0.841),
        ),
    ),
    # PaySim's step is hours since 2024-01-01T00:00Z (the mapping): steps 300-599 train,
    # 600-719 test.
    Case(
        "paysim",
        "paysim_steps300-719.parquet",
        "paysim.toml",
        (utc(2024, 1, 13, 12), utc(2024, 1, 26)),
        (utc(2024, 1, 26), utc(2024, 1, 31)),
        (
            ("reference logistic regression", 0.760, 0.206, 0.097, 0.466, 0.121),
            ("reference gradient boosting", 0.890, 0.772, 0.191, 0.920, 0.207),
        ),
    ),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=[c.name for c in CASES])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for case in CASES:
        if args.only and case.name != args.only:
            continue
        path = DATASETS / case.file
        if not path.is_file():
            print(f"{case.name}: {path} is not on this machine; skipped")
            continue
        run(case, path, args.seed)


def run(case: Case, path: Path, seed: int) -> None:
    load = os.getloadavg()[0]
    began = time.perf_counter()
    table = read_events(path, Mapping.load(ROOT / "examples" / "mappings" / case.mapping)).table
    model = train_events(
        table, start=case.train[0], end=case.train[1], config=TrainConfig(seed=seed)
    )
    result = evaluate_artifact(model, table, *case.test)
    training = model.metadata["training"]
    print(
        f"\n{case.name}: {table.height:,} events; {training['num_trees']} trees; "
        f"{time.perf_counter() - began:.0f} s wall, load average {load:.2f}"
    )
    print("| scorer | ROC AUC | AP | recall | precision | amount recall | payer p@100/day |")
    print("|---|---|---|---|---|---|---|")
    for row in result.comparison():
        cells = [
            row[key]
            for key in (
                "roc_auc",
                "average_precision",
                "recall",
                "precision",
                "amount_recall",
                f"payer_precision_at_{result.k}",
            )
        ]
        name = "Frisk" if row["scorer"] == "model" else f"Frisk baseline: {row['scorer']}"
        print(f"| {name} | " + " | ".join(_cell(c) for c in cells) + " |")
    for name, *figures in case.reference:
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in figures) + " | - |")


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


if __name__ == "__main__":
    main()
