"""``frisk ledger stats|archive`` on the embedded ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.store import DecisionRecord, default_url, open_ledger

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FRISK_DATABASE_URL", raising=False)
    monkeypatch.delenv("FRISK_LEDGER__RETENTION_DAYS", raising=False)
    ledger = open_ledger(default_url(tmp_path / "home"))
    try:
        ledger.record_decisions(
            [
                DecisionRecord(
                    transaction_id=f"t{day}",
                    body_hash="0" * 64,
                    event_time=T0 + timedelta(days=day),
                    transaction={"transaction_id": f"t{day}"},
                    features={"amount": float(day)},
                    score=0.5,
                    risk_score=50,
                    tier="medium",
                    action="allow",
                    reasons=[],
                    model_version="m",
                    timings={},
                    created_at=T0 + timedelta(days=day),
                )
                for day in range(3)
            ]
        )
    finally:
        ledger.close()
    return tmp_path / "home"


def _stats() -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(app, ["ledger", "stats", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    return {row["table"]: row for row in rows}


def test_stats_then_archive_then_stats(home: Path, tmp_path: Path) -> None:
    before = _stats()
    assert before["decisions"]["rows"] == 3
    assert before["decisions"]["oldest"] == T0.isoformat()
    assert int(str(before["decisions"]["bytes"])) > 0

    result = CliRunner().invoke(
        app, ["ledger", "archive", "--before", "2024-03-03", "--to", str(tmp_path / "a")]
    )
    assert result.exit_code == 0, result.output
    assert "archived 2 decisions" in result.output
    assert (tmp_path / "a" / "decisions" / "day=2024-03-01").is_dir()

    after = _stats()
    assert after["decisions"]["rows"] == 1
    assert after["decisions"]["oldest"] == (T0 + timedelta(days=2)).isoformat()
    table = CliRunner().invoke(app, ["ledger", "stats"])
    assert table.exit_code == 0
    assert "decisions" in table.output


def test_archive_needs_a_date_or_a_retention(home: Path) -> None:
    result = CliRunner().invoke(app, ["ledger", "archive"])
    assert result.exit_code != 0
    assert "ledger.retention_days" in str(result.exception)
