"""``frisk keys create --rate-limit N``: the key's own limit, stored and listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.errors import InputError
from frisk.store import default_url, open_ledger


def test_a_key_is_created_with_its_own_rate_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRISK_HOME", str(tmp_path))
    monkeypatch.delenv("FRISK_DATABASE_URL", raising=False)
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "create", "--role", "scorer", "--rate-limit", "5"])
    assert made.exit_code == 0, made.output
    plain = runner.invoke(app, ["keys", "create", "--role", "analyst"])
    assert plain.exit_code == 0, plain.output
    ledger = open_ledger(default_url(tmp_path))
    try:
        limits = {k.role.value: k.rate_limit for k in ledger.list_api_keys()}
    finally:
        ledger.close()
    assert limits == {"scorer": 5.0, "analyst": None}
    listed = runner.invoke(app, ["keys", "list"]).output.splitlines()
    assert "limit/s" in listed[0]
    assert any(" 5 " in line and "scorer" in line for line in listed[1:])
    refused = runner.invoke(app, ["keys", "create", "--role", "scorer", "--rate-limit", "0"])
    assert isinstance(refused.exception, InputError)
