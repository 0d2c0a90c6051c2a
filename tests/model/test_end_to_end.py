"""Through the real feature engine: simulated events -> features -> model -> scored rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import write_table
from frisk.errors import ArtifactError
from frisk.models import TrainConfig, load_model, save_model
from frisk.models.pipeline import score_events, train_events

END = datetime(2024, 1, 8, tzinfo=UTC)
CONFIG = TrainConfig(num_boost_round=40, early_stopping_rounds=10, params={"num_leaves": 15})


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    return simulate(SimulationConfig(days=10, payers=600, seed=3, fraud_rate=0.03))


def test_renaming_ids_never_changes_a_score(events: pl.DataFrame) -> None:
    renamed = events.with_columns(
        pl.col("transaction_id").str.replace(r"^", "tx:"),
        *(pl.col(c).str.replace(r"^", "x-") for c in ("payer_id", "payee_id", "device_id")),
    )
    a = train_events(events, end=END, config=CONFIG)
    b = train_events(renamed, end=END, config=CONFIG)
    assert a.booster.model_to_string() == b.booster.model_to_string()
    scored_a = score_events(a, events, start=END, reasons=0)
    scored_b = score_events(b, renamed, start=END, reasons=0)
    assert np.array_equal(scored_a["score"].to_numpy(), scored_b["score"].to_numpy())


def test_train_and_score_commands(events: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    write_table(events, path)
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            "--events",
            str(path),
            "--end",
            "2024-01-08",
            "--out",
            str(tmp_path / "m"),
            "--registry",
            str(tmp_path / "reg"),
            "--promote",
            "--params",
            '{"num_leaves": 15}',
        ],
    )
    assert result.exit_code == 0, result.output
    assert "is now in production" in result.output
    model = load_model(tmp_path / "m")
    assert model.catalogue["name"] == "default"
    out = tmp_path / "scored.parquet"
    result = runner.invoke(
        app,
        [
            "score",
            "--registry",
            str(tmp_path / "reg"),
            "--events",
            str(path),
            "--start",
            "2024-01-08",
            "--out",
            str(out),
            "--reasons",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    scored = pl.read_parquet(out)
    assert scored.columns == [
        "transaction_id",
        "timestamp",
        "score",
        "risk_score",
        "risk_tier",
        "action",
        "reasons",
    ]
    assert (
        scored.height
        == events.filter(pl.col("timestamp") >= datetime(2024, 1, 8, tzinfo=UTC)).height
    )
    alerted = scored.filter(pl.col("action") != "allow")
    assert alerted["reasons"].null_count() == 0
    assert (
        scored.filter(pl.col("action") == "allow")["reasons"].null_count()
        == scored.height - alerted.height
    )


def test_a_catalogue_tampered_after_training_is_refused(
    events: pl.DataFrame, tmp_path: Path
) -> None:
    model = train_events(events, end=END, config=CONFIG)
    model.catalogue["label_horizon"] = "90d"  # definitions changed, recorded version kept
    save_model(model, tmp_path / "m")
    with pytest.raises(ArtifactError, match=r"catalogue\.json: cannot be rebuilt.*does not match"):
        load_model(tmp_path / "m")
