"""Settings from ``FRISK_*_FILE`` variables: secrets as mounted files, never in the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from frisk.config import load_settings
from frisk.errors import ConfigError


def _secret(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_top_level_setting_comes_from_its_file_less_the_line_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://frisk:s3cr%40t@db:5432/frisk"
    path = _secret(tmp_path, "database_url", url + "\n")
    monkeypatch.delenv("FRISK_DATABASE_URL", raising=False)
    monkeypatch.setenv("FRISK_DATABASE_URL_FILE", str(path))
    assert load_settings().database_url == url


def test_a_nested_setting_comes_from_its_file_and_merges_with_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRISK_SERVICE__PORT_FILE", str(_secret(tmp_path, "port", "9123")))
    monkeypatch.setenv("FRISK_SERVICE__HOST", "0.0.0.0")
    settings = load_settings()
    assert settings.service.port == 9123
    assert settings.service.host == "0.0.0.0"


def test_a_file_value_is_validated_like_any_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRISK_SERVICE__PORT_FILE", str(_secret(tmp_path, "port", "not a port")))
    with pytest.raises(ConfigError, match=r"service\.port"):
        load_settings()


def test_both_the_variable_and_its_file_is_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRISK_DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("FRISK_DATABASE_URL_FILE", str(_secret(tmp_path, "url", "sqlite:///y.db")))
    with pytest.raises(ConfigError, match="FRISK_DATABASE_URL and FRISK_DATABASE_URL_FILE"):
        load_settings()


def test_a_missing_file_is_an_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRISK_DATABASE_URL_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="FRISK_DATABASE_URL_FILE="):
        load_settings()


def test_a_file_for_an_unknown_setting_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRISK_DATABASE_URI_FILE", str(_secret(tmp_path, "uri", "x")))
    with pytest.raises(ConfigError, match="database_uri"):
        load_settings()


def test_the_environment_wins_over_the_config_file_and_files_do_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "frisk.toml"
    config.write_text('database_url = "sqlite:///from-toml.db"\nseed = 3\n', encoding="utf-8")
    monkeypatch.setenv("FRISK_DATABASE_URL_FILE", str(_secret(tmp_path, "u", "sqlite:///f.db")))
    settings = load_settings(config)
    assert settings.database_url == "sqlite:///f.db"
    assert settings.seed == 3
