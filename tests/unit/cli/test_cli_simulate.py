"""``frisk simulate`` through Typer's test runner."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from frisk.cli import app
from frisk.data.table import read_table


def test_simulate_writes_a_table_and_summarises_it(tmp_path: Path) -> None:
    out = tmp_path / "sim.parquet"
    args = ["simulate", "--out", str(out), "--days", "5", "--payers", "200", "--seed", "2"]
    result = CliRunner().invoke(
        app, [*args, "--fraud-rate", "0.03", "--start", "2024-03-04", "--drift-at", "3"]
    )
    assert result.exit_code == 0, result.output
    table = read_table(out)
    assert table.height > 500
    assert f"{table.height:,} transactions" in result.output
    assert "frauds" in result.output
    assert "labelled" in result.output
    assert str(table.get_column("timestamp").min()).startswith("2024-03-04")
    assert table.filter(pl.col("label") == 1).height > 0


def test_simulate_with_currencies(tmp_path: Path) -> None:
    out = tmp_path / "sim.parquet"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--out",
            str(out),
            "--days",
            "2",
            "--payers",
            "100",
            "--currencies",
            "eur,usd",
        ],
    )
    assert result.exit_code == 0, result.output
    assert set(read_table(out).get_column("currency")) == {"EUR", "USD"}


def test_unknown_currency_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--out", str(tmp_path / "x.parquet"), "--currencies", "EUR,XYZ"]
    )
    assert result.exit_code != 0
    assert "XYZ" in str(result.exception)
