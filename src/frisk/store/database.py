"""Connecting to the ledger's database: an SQLite file under ``home`` unless a URL says otherwise.

SQLite runs in WAL mode with ``synchronous=FULL``. The service promises that a decision is durably
recorded before it is returned; in WAL mode ``NORMAL`` only fsyncs at checkpoints, so a power cut
can lose the last commits (the database stays consistent, but a decision the client has seen may
vanish). ``FULL`` fsyncs the WAL on every commit, which is what the promise needs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from frisk.errors import ConfigError

if TYPE_CHECKING:
    from frisk.store.postgres import StoreTimeouts

__all__ = ["default_url", "make_engine"]

_SQLITE_FILE = "ledger.sqlite"
# How long a writer waits for SQLite's single write lock before giving up.
_SQLITE_BUSY_MS = 5000


def default_url(home: Path) -> str:
    """The embedded ledger's URL: an SQLite file under ``home``."""
    return f"sqlite:///{(home / _SQLITE_FILE).resolve()}"


def make_engine(url: str, *, echo: bool = False, timeouts: StoreTimeouts | None = None) -> Engine:
    """An engine for ``url``; SQLite files get WAL and a full fsync per commit.

    PostgreSQL connections get ``timeouts`` (``store.postgres``); without them, connect and pool
    checkout are still bounded, statements are not (migrations, offline tools).
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database_url {_redact(url)!r} is not a database URL") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
            raise ConfigError(
                f"database_url {_redact(url)!r}: use the psycopg 3 driver, postgresql+psycopg://..."
            )
        from frisk.store.postgres import StoreTimeouts, postgres_engine

        return postgres_engine(parsed, timeouts or StoreTimeouts(statement=None), echo=echo)
    raise ConfigError(f"database_url {_redact(url)!r}: only sqlite and postgresql are supported")


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:"):
        raise ConfigError("an in-memory SQLite ledger would not survive a restart; give a file")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, echo=echo, connect_args={"timeout": _SQLITE_BUSY_MS / 1000, "check_same_thread": False}
    )
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable>"
