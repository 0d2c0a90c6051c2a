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
