"""``frisk demo --no-serve``; the served demo, in steady state, is tests/ui/test_demo.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from frisk.cli import app


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
