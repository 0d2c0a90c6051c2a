"""``frisk serve --workers N``: refused with in-process state, in the operator's words, naming
the setting to change."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.cli.workers import check_workers
from frisk.config import load_settings
from frisk.errors import ConfigError, InputError


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--workers", "3"], {}, "--workers 3"),
        ([], {"FRISK_SERVICE__WORKERS": "3"}, "FRISK_SERVICE__WORKERS=3"),
    ],
)
def test_several_workers_with_in_process_state_are_refused_in_the_operators_words(
    args: list[str], env: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRISK_STATE__URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["serve", *args])
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert message.startswith(f"{named}: several workers need feature state shared")
    assert "state.url" in message
    assert "FRISK_STATE__URL" in message
    if not args:
        assert "--workers" not in message


def test_shared_state_allows_several_workers() -> None:
    shared = load_settings(state={"url": "redis://127.0.0.1:6379/0"})
    check_workers(shared, 4, "--workers 4")  # no error
    check_workers(load_settings(), 1, "--workers 1")


def test_warm_from_is_refused_with_several_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRISK_STATE__URL", "redis://127.0.0.1:6379/0")
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--warm-from", "x.parquet"])
    assert isinstance(result.exception, InputError)
    assert "frisk state rebuild" in str(result.exception)
