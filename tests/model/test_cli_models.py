"""``frisk models`` against a real registry directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from frisk.cli import app
from frisk.models.registry import Registry
from frisk.models.train import Trainer


def test_list_show_promote_rollback(trained: Trainer, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "reg")
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    a = registry.register(trained.model_, now=t0)
    b = registry.register(trained.model_, now=t0 + timedelta(minutes=1))
    runner = CliRunner()
    where = ["--registry", str(registry.root)]

    result = runner.invoke(app, ["models", "promote", a, *where])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["models", "promote", b, *where]).exit_code == 0
    listing = runner.invoke(app, ["models", "list", *where]).output.splitlines()
    assert listing[0].startswith(f"  {a}")
    assert listing[1].startswith(f"* {b}")
    shown = json.loads(runner.invoke(app, ["models", "show", b, *where]).output)
    assert shown["version"] == b
    assert "reference" not in shown
    result = runner.invoke(app, ["models", "rollback", *where])
    assert result.output.strip() == f"rolled back: {a} is now in production"
    assert registry.production() == a
