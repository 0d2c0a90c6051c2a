"""``frisk evaluate`` end to end: simulated events, a small trained model, JSON and report out."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import write_table
from frisk.models import TrainConfig, save_model
from frisk.models.pipeline import train_events

START = datetime(2024, 1, 1, tzinfo=UTC)
pytestmark = pytest.mark.slow  # simulates, trains and renders a report: ~10 s


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    table = simulate(SimulationConfig(days=21, payers=400, seed=11, fraud_rate=0.02, start=START))
    events = root / "events.parquet"
    write_table(table, events)
    config = TrainConfig(num_boost_round=40, early_stopping_rounds=10, num_threads=1)
    model = train_events(table, end=datetime(2024, 1, 15, tzinfo=UTC), config=config)
    return events, save_model(model, root / "model")


def test_evaluate_prints_the_comparison_and_writes_json_and_report(
    artifacts: tuple[Path, Path], tmp_path: Path
) -> None:
    events, model = artifacts
    out_json, out_html = tmp_path / "m.json", tmp_path / "r.html"
    args = ["evaluate", "--model", str(model), "--events", str(events)]
    args += ["--start", "2024-01-15", "--end", "2024-01-22", "--alert-budget", "0.01"]
    args += ["--payers-k", "5", "--json", str(out_json), "--report", str(out_html)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["scorer", "ROC", "AUC"]
    assert [line.split()[0] for line in lines[1:4]] == [
        "model",
        "logistic_regression",
        "amount_velocity_rule",
    ]
    data = json.loads(out_json.read_text())
    assert data["train_window"]["end"] == "2024-01-15T00:00:00+00:00"
    assert data["alert_budget"] == 0.01
    assert set(data["metrics"]) == {"model", "logistic_regression", "amount_velocity_rule"}
    assert data["importances"]
    model_auc = data["metrics"]["model"]["roc_auc"]
    assert f"{model_auc:.4f}" in lines[1]
    assert f"{model_auc:.4f}" in out_html.read_text()


def test_evaluate_refuses_the_training_window(artifacts: tuple[Path, Path]) -> None:
    events, model = artifacts
    args = ["evaluate", "--model", str(model), "--events", str(events), "--start", "2024-01-10"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "overlaps the training window" in str(result.exception)


def test_evaluate_without_baselines(artifacts: tuple[Path, Path]) -> None:
    events, model = artifacts
    args = ["evaluate", "--model", str(model), "--events", str(events)]
    args += ["--start", "2024-01-15", "--no-baselines"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "logistic_regression" not in result.output


def test_mlflow_missing_fails_before_evaluating(
    artifacts: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    events, model = artifacts
    args = ["evaluate", "--model", str(model), "--events", str(events), "--mlflow"]
    result = CliRunner().invoke(app, [*args, "--start", "2024-01-15", "--no-baselines"])
    assert result.exit_code != 0
    assert "pip install 'frisk[mlflow]'" in str(result.exception)
    assert "scorer" not in result.output


def _record_events(events: Path, home: Path) -> None:
    """The events as the ledger would hold them had the service decided them, with labels."""
    from frisk.data.table import read_table
    from frisk.store import DecisionRecord, LabelWrite, default_url, open_ledger

    table = read_table(events)
    core = {"transaction_id", "amount", "currency", "payer_id", "payee_id", "device_id",
            "channel", "merchant_category", "payer_country", "payee_country"}  # fmt: skip
    skip = {*core, "timestamp", "label", "label_timestamp", "label_source", "scenario"}
    ledger = open_ledger(default_url(home))
    try:
        records, labels = [], []
        for row in table.iter_rows(named=True):
            body = {k: row[k] for k in core if row.get(k) is not None}
            body["timestamp"] = row["timestamp"].isoformat()
            body["extra"] = {k: v for k, v in row.items() if k not in skip and v is not None}
            records.append(
                DecisionRecord(
                    transaction_id=row["transaction_id"],
                    body_hash="0" * 64,
                    event_time=row["timestamp"],
                    transaction=body,
                    features={},
                    score=0.0,
                    risk_score=0,
                    tier="low",
                    action="allow",
                    reasons=[],
                    model_version="m",
                    timings={},
                    created_at=row["timestamp"],
                )
            )
            if row["label"] is not None and row["label_timestamp"] is not None:
                label = "fraud" if row["label"] == 1 else "legit"
                labels.append(
                    LabelWrite(row["transaction_id"], label, row["label_timestamp"], "file")
                )
        ledger.record_decisions(records)
        ledger.set_labels(labels, actor="test")
    finally:
        ledger.close()


def test_evaluate_from_the_ledger_reads_the_same_through_the_archive(
    artifacts: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events, model = artifacts
    home = tmp_path / "home"
    monkeypatch.setenv("FRISK_HOME", str(home))
    monkeypatch.delenv("FRISK_DATABASE_URL", raising=False)
    _record_events(events, home)
    args = ["evaluate", "--model", str(model), "--from-ledger", "--start", "2024-01-15"]
    args += ["--no-baselines"]
    before = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "before.json")])
    assert before.exit_code == 0, before.output

    moved = CliRunner().invoke(
        app, ["ledger", "archive", "--before", "2024-01-12", "--to", str(tmp_path / "archive")]
    )
    assert moved.exit_code == 0, moved.output
    after = CliRunner().invoke(
        app,
        [*args, "--archive", str(tmp_path / "archive"), "--json", str(tmp_path / "after.json")],
    )
    assert after.exit_code == 0, after.output
    assert json.loads((tmp_path / "after.json").read_text()) == json.loads(
        (tmp_path / "before.json").read_text()
    )
    # Without the archive the features lose their history: not the same evaluation.
    narrowed = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "narrow.json")])
    assert narrowed.exit_code == 0, narrowed.output
    assert json.loads((tmp_path / "narrow.json").read_text()) != json.loads(
        (tmp_path / "before.json").read_text()
    )


def test_evaluate_needs_events_or_the_ledger(artifacts: tuple[Path, Path]) -> None:
    _, model = artifacts
    result = CliRunner().invoke(app, ["evaluate", "--model", str(model)])
    assert result.exit_code != 0
    assert "--from-ledger" in str(result.exception)
