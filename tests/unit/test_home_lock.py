"""One ``frisk serve`` per home (issue #20, case 5): a second one is refused, not run alongside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.errors import ConfigError
from frisk.home_lock import HomeLock


def test_a_second_lock_on_one_home_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with HomeLock(tmp_path), pytest.raises(ConfigError, match=f"pid {os.getpid()}"):
        HomeLock(tmp_path).acquire()
    with HomeLock(tmp_path):  # released: the next server may start
        pass


def test_frisk_serve_refuses_a_home_that_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRISK_HOME", str(tmp_path))
    monkeypatch.delenv("FRISK_STATE__URL", raising=False)
    with HomeLock(tmp_path):
        result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "no-model")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "another frisk serve" in str(result.exception)


def test_with_shared_state_the_home_is_not_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing of the home is the process's own with state in Redis: instances may share one.
    from frisk.errors import ModelError

    monkeypatch.setenv("FRISK_HOME", str(tmp_path))
    monkeypatch.setenv("FRISK_STATE__URL", "redis://127.0.0.1:6379/0")
    with HomeLock(tmp_path):
        result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "no-model")])
    assert isinstance(result.exception, ModelError)  # got past the lock to the missing model
