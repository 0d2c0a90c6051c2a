"""``frisk evaluate``: a model on a time window at a fixed alert budget, next to two baselines."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from frisk.cli.app import app
from frisk.cli.options import EndOpt, MappingOpt, SkipInvalidOpt, StartOpt, parse_instant
from frisk.errors import InputError

if TYPE_CHECKING:
    import polars as pl

    from frisk.models.evaluate import EvaluationResult

__all__ = ["evaluate_command", "format_comparison"]


@app.command("evaluate")
def evaluate_command(
    model_dir: Annotated[
        Path, typer.Option("--model", help="Model artifact directory.", show_default=False)
    ],
    events: Annotated[
        Path | None,
        typer.Option(
            "--events", help="Event file: CSV, Parquet or JSON Lines.", show_default=False
        ),
    ] = None,
    from_ledger: Annotated[
        bool,
        typer.Option(
            "--from-ledger",
            help="Evaluate on the transactions the ledger recorded, labelled as the ledger knows.",
        ),
    ] = False,
    archive: Annotated[
        Path | None,
        typer.Option("--archive", help="With --from-ledger: add what was archived there."),
    ] = None,
    mapping: MappingOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    start: StartOpt = None,
    end: EndOpt = None,
    alert_budget: Annotated[
        float,
        typer.Option("--alert-budget", help="Share of events alerted, e.g. 0.005 = top 0.5%."),
    ] = 0.005,
    payers_k: Annotated[
        int, typer.Option("--payers-k", help="k of the daily payer precision@k.")
    ] = 100,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every metric as JSON here.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    baselines: Annotated[
        bool,
        typer.Option(
            "--baselines/--no-baselines",
            help="Fit logistic-regression and rule baselines on the model's training window.",
        ),
    ] = True,
    allow_overlap: Annotated[
        bool,
        typer.Option(
            "--allow-overlap", help="Evaluate even if the window overlaps the training window."
        ),
    ] = False,
    mlflow: Annotated[
        bool,
        typer.Option(
            "--mlflow", help="Log the run to MLflow (also when MLFLOW_TRACKING_URI is set)."
        ),
    ] = False,
) -> None:
    """Evaluate a model on the labelled events of [--start, --end) at a fixed alert budget."""
    from frisk.models.tracking import require_mlflow, tracking_wanted

    track = tracking_wanted(mlflow)
    if track:
        require_mlflow()  # fail before the evaluation, not after it
    first, last = parse_instant(start, "--start"), parse_instant(end, "--end")
    if first is not None and last is not None and first >= last:
        raise InputError(f"--start {start!r} is not before --end {end!r}")
    from frisk.data.importer import load_events
    from frisk.models import load_model
    from frisk.models.evaluate import evaluate_artifact
    from frisk.models.report import write_report

    if (events is None) == (not from_ledger):
        raise InputError("give exactly one of --events FILE or --from-ledger")
    if archive is not None and not from_ledger:
        raise InputError("--archive adds to --from-ledger")
    model = load_model(model_dir)
    table = (
        load_events(events, mapping, skip_invalid)
        if events is not None
        else _ledger_table(archive, last)
    )
    result = evaluate_artifact(
        model,
        table,
        first,
        last,
        alert_budget,
        k=payers_k,
        baselines=baselines,
        allow_overlap=allow_overlap,
    )
    typer.echo(format_comparison(result))
    written: list[Path] = []
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
        written.append(json_out)
        typer.echo(f"metrics -> {json_out}")
    if report is not None:
        written.append(write_report(result, report, title=f"Frisk evaluation: {model_dir.name}"))
        typer.echo(f"report -> {report}")
    if track:
        run = _log_to_mlflow(result, model_dir, events or Path("ledger"), written)
        typer.echo(f"mlflow run {run}")


def _ledger_table(archive: Path | None, end: datetime | None) -> pl.DataFrame:
    """The ledger's transactions (and the archive's), labelled with the labels it holds."""
    from datetime import UTC, timedelta

    from frisk.config import load_settings
    from frisk.monitoring.retrain import ledger_history, point_in_time_labels
    from frisk.store import default_url, open_ledger

    settings = load_settings()
    ledger = open_ledger(settings.database_url or default_url(settings.home))
    try:
        table = ledger_history(ledger, before=end, archive=archive)
        if table.height == 0:
            raise InputError("the ledger (and archive) hold no transactions to evaluate on")
        # Every label known now; the history ends before ``end`` (or at its newest payment).
        newest = table.get_column("timestamp").max()
        assert isinstance(newest, datetime)
        cutoff = max(datetime.now(UTC), newest + timedelta(microseconds=1))
        return point_in_time_labels(table, ledger, cutoff, archive)
    finally:
        ledger.close()


def format_comparison(result: EvaluationResult) -> str:
    """The headline table, one row per scorer, and a line saying what was evaluated."""
    model = next(iter(result.metrics.values()))
    columns = [
        ("scorer", "scorer"),
        ("ROC AUC", "roc_auc"),
        ("AP", "average_precision"),
        ("recall", "recall"),
        ("precision", "precision"),
        ("amt recall", "amount_recall"),
        (f"payer p@{result.k}", f"payer_precision_at_{result.k}"),
    ]
    rows = [[_cell(row[key]) for _, key in columns] for row in result.comparison()]
    header = [title for title, _ in columns]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(
            (cell.ljust(w) if i == 0 else cell.rjust(w))
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [header, *rows]
    ]
    window = result.test.to_dict()
    lines.append(
        f"window [{window['start'] or '-inf'}, {window['end'] or '+inf'}): "
        f"{model.events:,} labelled events ({result.unlabelled:,} unlabelled dropped), "
        f"{model.frauds:,} frauds; budget {result.budget:.3%} = {model.at_budget.alerts:,} alerts; "
        f"best possible payer p@{result.k} {_cell(model.payers.ceiling)}"
    )
    for name, text in result.descriptions.items():
        lines.append(f"  {name}: {text}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.4f}"
    return str(value)


def _log_to_mlflow(
    result: EvaluationResult, model_dir: Path, events: Path, artifacts: list[Path]
) -> str:
    from frisk.models.tracking import log_run

    params = {
        "model": str(model_dir),
        "events": str(events),
        "alert_budget": result.budget,
        "payers_k": result.k,
        "test_window": result.test.to_dict(),
        "train_window": None if result.train is None else result.train.to_dict(),
        "scorers": result.descriptions,
    }
    metrics = {
        row["scorer"]: {k: v for k, v in row.items() if k != "scorer"}
        for row in result.comparison()
    }
    import os

    from frisk.config import load_settings
    from frisk.models.tracking import ENV_URI, default_uri

    home = load_settings().home
    uri = os.environ.get(ENV_URI) or default_uri(home)
    return log_run(
        params,
        metrics,
        [*artifacts, model_dir],
        uri,
        run_name=f"evaluate {model_dir.name}",
        artifact_root=home / "mlartifacts",
    )
