"""Connecting: SQLite durability pragmas and the URLs that are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from frisk.errors import ConfigError
from frisk.store import default_url, make_engine


def test_sqlite_is_wal_with_a_full_fsync_per_commit(tmp_path: Path) -> None:
    engine = make_engine(default_url(tmp_path / "nested"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 2  # FULL
    engine.dispose()
    assert (tmp_path / "nested" / "ledger.sqlite").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("mysql://u:hunter2@h/db", "only sqlite and postgresql"),
        ("postgresql+asyncpg://u:hunter2@h/db", "psycopg 3"),
        ("not a url", "not a database URL"),
    ],
)
def test_unusable_urls_are_refused_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        make_engine(url)
    assert "hunter2" not in str(info.value)
