from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.store import default_url, open_ledger


@pytest.mark.slow
def test_demo_simulates_trains_registers_and_reports(tmp_path: Path) -> None:
    args = ["demo", "--days", "14", "--payers", "600", "--seed", "3", "--no-serve"]
    result = CliRunner().invoke(app, [*args, "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "demo-events.parquet").is_file()
    reports = list((tmp_path / "reports").glob("evaluation-*.html"))
    assert len(reports) == 1
    assert "promoted to production" in result.output
    assert "logistic_regression" in result.output


@pytest.mark.slow
@pytest.mark.integration
def test_demo_serves_the_api_and_dashboard_and_replays_payments_and_labels(
    tmp_path: Path,
) -> None:
    api_port, dashboard_port = _free_port(), _free_port()
    args = ["demo", "--days", "14", "--payers", "600", "--seed", "3", "--home", str(tmp_path)]
    args += ["--replay", "400", "--api-port", str(api_port)]
    args += ["--dashboard-port", str(dashboard_port), "--exit-after-replay"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"dashboard  http://127.0.0.1:{dashboard_port}" in result.output
    assert f"http://127.0.0.1:{api_port}/docs" in result.output
    key = next(line.split()[2] for line in result.output.splitlines() if "demo key" in line)
    assert key.startswith("frisk_")

    events = pl.read_parquet(tmp_path / "data" / "demo-events.parquet")
    replayed = events.filter(pl.col("timestamp") >= datetime(2024, 1, 10, tzinfo=UTC)).head(400)
    labelled = replayed.filter(
        pl.col("label").is_not_null()
        & (pl.col("label_timestamp") <= datetime(2024, 1, 15, tzinfo=UTC))
    )
    assert labelled.height > 0
    ledger = open_ledger(default_url(tmp_path))
    try:
        # Every replayed payment was decided and recorded by the API the demo started.
        ids = replayed.get_column("transaction_id").to_list()
        assert all(ledger.get_decision(i) is not None for i in ids)
        assert sum(ledger.decision_counts(datetime(2000, 1, 1, tzinfo=UTC)).values()) == 400
        for row in labelled.iter_rows(named=True):
            label = ledger.get_label(row["transaction_id"])
            assert label is not None
            assert label.label == ("fraud" if row["label"] == 1 else "legit")
    finally:
        ledger.close()
    assert "replayed 400 payments" in result.output
    assert f"the {labelled.height:,} labels" in result.output
    assert (tmp_path / "logs" / "api.log").is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
