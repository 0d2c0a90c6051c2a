"""``frisk serve`` refuses more than one worker, naming the setting as the operator gave it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.errors import ConfigError


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--workers", "3"], {}, "--workers 3"),
        ([], {"FRISK_SERVICE__WORKERS": "3"}, "FRISK_SERVICE__WORKERS=3"),
    ],
)
def test_several_workers_are_refused_in_the_operators_words(
    args: list[str], env: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["serve", *args])
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert message.startswith(f"{named}: only 1 is supported")
    if not args:
        assert "--workers" not in message
