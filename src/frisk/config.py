"""Settings: ``FRISK_*`` environment variables, an optional TOML config file, then defaults.

The config file is named by ``FRISK_CONFIG`` (or passed to ``load_settings``). Nested settings use
``__`` in environment variables, e.g. ``FRISK_SERVICE__PORT=8080``. Settings are built by the CLI
and the app factory, never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from frisk.errors import ConfigError

__all__ = ["ServiceSettings", "Settings", "load_settings"]


class ServiceSettings(BaseModel):
    """The HTTP service."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)


class Settings(BaseSettings):
    """Everything Frisk can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="FRISK_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    # Where generated data, models, state snapshots and the embedded ledger live.
    home: Path = Field(default=Path(".frisk"))
    # Ledger location; empty means an SQLite file under ``home``.
    database_url: str = ""
    seed: int = 7
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def registry_dir(self) -> Path:
        return self.home / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("FRISK_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings; a config file given here wins over ``FRISK_CONFIG``."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {str(config_file)!r} does not exist")
    env_file = os.environ.get("FRISK_CONFIG")
    if config_file is None and env_file and not Path(env_file).is_file():
        raise ConfigError(f"FRISK_CONFIG={env_file!r}: no such file")
    try:
        if config_file is not None:
            previous = os.environ.get("FRISK_CONFIG")
            os.environ["FRISK_CONFIG"] = str(config_file)
            try:
                return Settings(**overrides)
            finally:
                if previous is None:
                    del os.environ["FRISK_CONFIG"]
                else:
                    os.environ["FRISK_CONFIG"] = previous
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting {where}: {first['msg']}") from exc
