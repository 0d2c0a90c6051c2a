"""Run the ledger's Alembic migrations in code: on service start-up and by ``frisk db upgrade``."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from frisk.errors import StoreError
from frisk.store._driver_errors import describe

__all__ = ["current_revision", "head_revision", "upgrade"]

_SCRIPTS = "frisk.store:migrations"


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the database to ``revision``; return the revision it is at afterwards."""
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"ledger migration failed: {describe(exc)}") from exc
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"ledger unreachable: {describe(exc)}") from exc


def head_revision() -> str | None:
    """The newest revision this Frisk knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", _SCRIPTS)
    return config
