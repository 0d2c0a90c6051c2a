"""``frisk train --labels-as-of``: only fraud labels that had arrived count."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from frisk.cli import app
from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import write_table
from frisk.models import load_model


def test_train_with_labels_as_of(tmp_path: Path) -> None:
    events = simulate(SimulationConfig(days=10, payers=600, seed=3, fraud_rate=0.03))
    path = tmp_path / "events.parquet"
    write_table(events, path)
    args = ["train", "--events", str(path), "--end", "2024-01-08", "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(app, [*args, "--labels-as-of", "2024-01-09T00:00:00Z"])
    assert result.exit_code == 0, result.output
    training = load_model(tmp_path / "m").metadata["training"]
    cut = datetime(2024, 1, 9, tzinfo=UTC)
    window = events.filter(pl.col("timestamp") < datetime(2024, 1, 8, tzinfo=UTC))
    known = window.filter((pl.col("label") == 1) & (pl.col("label_timestamp") < cut)).height
    assert training["frauds"] == known
    assert known < window.filter(pl.col("label") == 1).height
    assert training["labels_as_of"] == cut.isoformat()
