"""Retraining: a challenger from history and the ledger's labels, compared with the champion.

History is an events file and/or the transactions the ledger recorded (a file row wins over a
ledger row with the same id). Labels are point in time: only labels whose ``label_timestamp`` is
before the cut-off count: the ledger's, and a file's own labels where it carries arrival times.
A transaction without a fraud label known by the cut-off counts as legit, as it would in any
retrain (chargebacks are the only news about most payments).

    [train_start ........ eval_start) [eval_start .. cutoff)
     challenger trained here           champion and challenger evaluated here (same metrics as
                                       ``frisk evaluate``, labels as of the cut-off)

The challenger is trained with the champion's configuration (seed, budgets, tuned LightGBM
parameters; parameters that scale with the data size are recomputed) and its feature catalogue,
so it can replace it in a running service. It is promoted when ``promote`` is ``force``, or
``auto`` and its metric beats the champion's by more than ``margin``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson
import polars as pl

from frisk.data.table import conform
from frisk.errors import InputError
from frisk.models.dataset import FeatureSpec
from frisk.models.evaluate import (
    MODEL,
    EvaluationResult,
    Window,
    evaluate_artifact,
    evaluate_scores,
)
from frisk.models.pipeline import featurize, model_catalogue
from frisk.models.scoring import FraudModel
from frisk.models.train import TrainConfig, Trainer
from frisk.schema import LABEL_COLUMNS
from frisk.store.ledger import Ledger

__all__ = [
    "Metric",
    "PromoteMode",
    "RetrainResult",
    "challenger_config",
    "decide",
    "ledger_history",
    "point_in_time_labels",
    "retrain",
]

Metric = Literal["average_precision", "recall", "amount_recall"]
PromoteMode = Literal["auto", "never", "force"]
# LightGBM parameters that are not the champion's choice: fixed by Frisk or scaled to the data.
_NOT_CARRIED = frozenset(
    {
        "objective",
        "metric",
        "first_metric_only",
        "seed",
        "num_threads",
        "verbose",
        "deterministic",
        "force_row_wise",
        "num_leaves",
        "min_child_samples",
        "feature_fraction",
        "bagging_fraction",
    }
)


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """What a retrain did; ``challenger`` is the trained model (not yet registered)."""

    challenger: FraudModel
    champion_version: str | None
    cutoff: datetime
    train: Window
    test: Window
    metric: Metric
    margin: float
    champion_score: float | None
    challenger_score: float
    promote: bool
    reason: str
    comparison: EvaluationResult = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "champion": self.champion_version,
            "cutoff": self.cutoff.isoformat(),
            "train_window": self.train.to_dict(),
            "test_window": self.test.to_dict(),
            "metric": self.metric,
            "margin": self.margin,
            "champion_score": self.champion_score,
            "challenger_score": self.challenger_score,
            "promote": self.promote,
            "reason": self.reason,
            "comparison": self.comparison.comparison(),
        }


def ledger_history(
    ledger: Ledger | None, *, before: datetime | None = None, archive: Path | None = None
) -> pl.DataFrame:
    """The transactions the ledger recorded (before ``before``), as a canonical event table;
    with ``archive``, those moved there too (``frisk ledger archive``)."""
    rows: list[dict[str, Any]] = []
    if archive is not None:
        from frisk.store.archive import read_decisions

        archived = read_decisions(archive, end=before, columns=["transaction"])
        for text in archived.get_column("transaction") if archived.height else []:
            rows.append(_event(orjson.loads(text)))
    if ledger is not None:
        rows.extend(_event(txn) for txn in ledger.monitoring.transactions(before=before))
    if not rows:
        return conform(pl.DataFrame({"transaction_id": [], "timestamp": []}))
    frame = pl.DataFrame(rows, infer_schema_length=None)
    frame = frame.with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
    # A transaction both archived and in the ledger (an archive run stopped between writing a
    # part and deleting its rows): the ledger's, which comes last.
    return conform(frame.unique("transaction_id", keep="last", maintain_order=True))


def _event(txn: Mapping[str, Any]) -> dict[str, Any]:
    event = {k: v for k, v in dict(txn).items() if k != "extra"}
    event.update(txn.get("extra") or {})
    return event


def point_in_time_labels(
    table: pl.DataFrame, ledger: Ledger | None, cutoff: datetime, archive: Path | None = None
) -> pl.DataFrame:
    """``table`` before ``cutoff`` labelled with what was known then: 1 fraud, else 0.

    The table's own labels count where their ``label_timestamp`` is before the cut-off; the
    ledger's labels (before the cut-off) replace them: with ``archive``, the archived ones too,
    and a label the ledger holds wins over an archived one (a label that arrived after its
    transaction was archived is in the ledger).
    """
    table = table.filter(pl.col("timestamp") < cutoff)
    known = pl.col("label_timestamp").is_not_null() & (pl.col("label_timestamp") < cutoff)
    dtypes: dict[str, pl.DataType] = {
        "label": pl.Int8(),
        "label_timestamp": pl.Datetime("us", "UTC"),
        "label_source": pl.String(),
    }
    table = table.with_columns(
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in dtypes.items()
        if name not in table.columns
    )
    table = table.with_columns(
        pl.when(known).then(pl.col(c)).otherwise(None).alias(c) for c in LABEL_COLUMNS
    )
    if ledger is not None or archive is not None:
        recorded = _recorded_labels(ledger, cutoff, archive)
        if recorded.height:
            table = (
                table.join(recorded, on="transaction_id", how="left")
                .with_columns(
                    pl.coalesce("ledger_label", "label").alias("label"),
                    pl.coalesce("ledger_label_timestamp", "label_timestamp").alias(
                        "label_timestamp"
                    ),
                    pl.coalesce("ledger_label_source", "label_source").alias("label_source"),
                )
                .drop("ledger_label", "ledger_label_timestamp", "ledger_label_source")
            )
    # Unknown by the cut-off: legit (no label event, so no feature ever sees it).
    return table.with_columns(pl.col("label").fill_null(0).cast(pl.Int8))


def challenger_config(champion: FraudModel, cutoff: datetime) -> TrainConfig:
    """The champion's training configuration, with labels as of ``cutoff``."""
    metadata = champion.metadata
    training = metadata.get("training") or {}
    thresholds = metadata.get("thresholds") or {}
    params = {k: v for k, v in dict(training.get("params") or {}).items() if k not in _NOT_CARRIED}
    return TrainConfig(
        seed=int(training.get("seed", 7)),
        params=params,
        alert_budget=float(thresholds.get("alert_budget", 0.005)),
        block_budget=float(thresholds.get("block_budget", 0.001)),
        block_precision=thresholds.get("block_precision"),
        labels_as_of=cutoff,
    )


def decide(
    mode: PromoteMode, champion: float | None, challenger: float, margin: float, metric: str
) -> tuple[bool, str]:
    """Whether to promote, and why."""
    if mode == "force":
        return True, "promotion forced (--promote force)"
    if mode == "never":
        return False, "never promoted (--promote never)"
    if champion is None or champion != champion:
        return True, "no champion score to beat"
    if challenger != challenger:
        return False, f"the challenger's {metric} is undefined"
    if challenger > champion + margin:
        return True, f"{metric} {challenger:.4f} beats {champion:.4f} by more than {margin:g}"
    return False, f"{metric} {challenger:.4f} does not beat {champion:.4f} by more than {margin:g}"


def retrain(
    table: pl.DataFrame,
    champion: FraudModel | None,
    *,
    cutoff: datetime,
    eval_days: float,
    train_start: datetime | None = None,
    metric: Metric = "average_precision",
    margin: float = 0.01,
    mode: PromoteMode = "auto",
    budget: float | None = None,
    config: TrainConfig | None = None,
    catalogue: str = "default",
) -> RetrainResult:
    """Train a challenger on ``table`` (labelled as of ``cutoff``), compare, decide."""
    eval_start = cutoff - timedelta(days=eval_days)
    if train_start is not None and train_start >= eval_start:
        raise InputError(
            f"training start {train_start.isoformat()} is not before the evaluation period "
            f"[{eval_start.isoformat()}, {cutoff.isoformat()})"
        )
    if table.filter(pl.col("timestamp") >= eval_start).height == 0:
        raise InputError(
            f"no transactions in the evaluation period [{eval_start.isoformat()}, "
            f"{cutoff.isoformat()}): choose another cut-off or fewer evaluation days"
        )
    if champion is not None:
        resolved = model_catalogue(champion)
        config = config or challenger_config(champion, cutoff)
    else:
        from frisk.features import resolve_catalogue

        resolved = resolve_catalogue(catalogue, table)
        config = config or TrainConfig(labels_as_of=cutoff)
    features = featurize(table, resolved)
    spec = FeatureSpec(tuple(resolved.names), tuple(resolved.categorical))
    challenger = (
        Trainer(config)
        .fit(features, table, spec, catalogue=resolved.to_dict(), start=train_start, end=eval_start)
        .model_
    )
    budget = budget if budget is not None else config.alert_budget
    scored = {"challenger": challenger, **({"champion": champion} if champion else {})}
    results = {
        name: evaluate_artifact(
            model, table, eval_start, cutoff, budget, baselines=False, allow_overlap=True
        )
        for name, model in scored.items()
    }
    challenger_score = _metric(results["challenger"], metric)
    champion_score = _metric(results["champion"], metric) if "champion" in results else None
    promote, reason = decide(mode, champion_score, challenger_score, margin, metric)
    test = Window(eval_start, cutoff)
    comparison = _comparison(table, results, test, champion)
    challenger.metadata["retrain"] = {
        "champion": None if champion is None else champion.version,
        "cutoff": cutoff.isoformat(),
        "test_window": test.to_dict(),
        "metric": metric,
        "champion_score": champion_score,
        "challenger_score": challenger_score,
        "comparison": comparison.comparison(),
    }
    return RetrainResult(
        challenger=challenger,
        champion_version=None if champion is None else champion.version,
        cutoff=cutoff,
        train=Window(train_start, eval_start),
        test=test,
        metric=metric,
        margin=margin,
        champion_score=champion_score,
        challenger_score=challenger_score,
        promote=promote,
        reason=reason,
        comparison=comparison,
    )


def _recorded_labels(ledger: Ledger | None, cutoff: datetime, archive: Path | None) -> pl.DataFrame:
    rows: list[tuple[Any, ...]] = []
    if archive is not None:
        from frisk.store.archive import read_labels

        archived = read_labels(archive).filter(pl.col("label_timestamp") < cutoff)
        rows.extend(
            archived.select("transaction_id", "label", "label_timestamp", "source").iter_rows()
        )
    if ledger is not None:
        rows.extend(
            (r.transaction_id, r.label, r.label_timestamp, r.source)
            for r in ledger.monitoring.labels_known_before(cutoff)
        )
    frame = pl.DataFrame(
        {
            "transaction_id": [r[0] for r in rows],
            "ledger_label": [1 if r[1] == "fraud" else 0 for r in rows],
            "ledger_label_timestamp": [r[2] for r in rows],
            "ledger_label_source": [r[3] for r in rows],
        },
        schema={
            "transaction_id": pl.String,
            "ledger_label": pl.Int8,
            "ledger_label_timestamp": pl.Datetime("us", "UTC"),
            "ledger_label_source": pl.String,
        },
    )
    # The ledger's label (read last) over an archived one of the same transaction.
    return frame.unique("transaction_id", keep="last", maintain_order=True)


def _metric(result: EvaluationResult, metric: Metric) -> float:
    m = result.metrics[MODEL]
    if metric == "average_precision":
        return float(m.average_precision)
    if metric == "recall":
        return float(m.at_budget.recall)
    return float(m.at_budget.amount_recall)


def _comparison(
    table: pl.DataFrame,
    results: Mapping[str, EvaluationResult],
    test: Window,
    champion: FraudModel | None,
) -> EvaluationResult:
    """Both models on the same rows in one result (the challenger as ``model``), for the report."""
    challenger = results["challenger"]
    rows = table.filter(
        test.mask(table.get_column("timestamp")) & table.get_column("label").is_not_null()
    )
    scores = {MODEL: challenger.scores[MODEL]}
    descriptions = {MODEL: "challenger (retrained)"}
    if "champion" in results and champion is not None:
        name = f"champion {champion.version}"
        scores[name] = results["champion"].scores[MODEL]
        descriptions[name] = "the model in production when retrained"
    return evaluate_scores(
        rows,
        scores,
        challenger.budget,
        k=challenger.k,
        test=test,
        rows_in_window=challenger.rows,
        descriptions=descriptions,
        importances=challenger.importances,
    )
