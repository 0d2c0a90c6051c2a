"""``frisk import`` through Typer's test runner, and its error line through ``main``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frisk.cli import app, main
from frisk.data.table import read_table

ROOT = Path(__file__).parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "import" / "paysim_kaggle_head200.csv"
MAPPING = ROOT / "examples" / "mappings" / "paysim.toml"


def test_import_writes_the_table_and_summarises_it(tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    args = ["import", "--events", str(FIXTURE), "--mapping", str(MAPPING), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = read_table(out)
    assert table.height == 200
    assert "imported 200 of 200 rows" in result.output
    assert "time range: 2024-01-01T01:00:00+00:00 .. 2024-01-01T01:00:00+00:00" in result.output
    assert "fraud rate: 1.00% (2 of 200 labelled)" in result.output
    assert "duplicate ids: 0, ids derived from row content" in result.output
    assert "columns not imported: 'isFlaggedFraud'" in result.output


def test_skip_invalid_is_reported(tmp_path: Path) -> None:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("TRANSFER,", "TRANSFER,-", 1)  # a negative amount on data row 3
    events = tmp_path / "bad.csv"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "events.parquet"
    args = ["import", "--events", str(events), "--mapping", str(MAPPING), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "imported 199 of 200 rows" in result.output
    assert "invalid rows dropped: 1, e.g. row 3, column 'amount': '-181' is negative" in (
        result.output
    )


def test_errors_are_one_readable_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "events.parquet"
    monkeypatch.setattr(
        sys, "argv", ["frisk", "import", "--events", str(FIXTURE), "--out", str(out)]
    )
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: the file is not canonical")
    assert not out.exists()
