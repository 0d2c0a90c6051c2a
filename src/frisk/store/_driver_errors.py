"""The one place where database driver errors become Frisk errors.

SQLAlchemy wraps sqlite3's and psycopg's exceptions in its own classes, so translating those covers
every driver: an integrity violation is a ``ConflictError``, anything else a ``StoreError``. The one
place that talks to sqlite3 directly (``sql._IdProbe``) gets its errors translated here too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from frisk.errors import ConflictError, RecordRefusedError, StoreError

__all__ = ["describe", "translate_errors"]


@contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    """Re-raise database errors met while ``doing`` something as Frisk errors."""
    try:
        yield
    except (sa_exc.IntegrityError, sqlite3.IntegrityError) as exc:
        raise ConflictError(f"{doing}: conflicts with what is recorded ({describe(exc)})") from exc
    except (sa_exc.DataError, sqlite3.DataError) as exc:
        raise RecordRefusedError(f"{doing}: the ledger cannot hold it ({describe(exc)})") from exc
    except (sa_exc.SQLAlchemyError, sqlite3.Error) as exc:
        raise StoreError(f"{doing}: the ledger failed ({describe(exc)})") from exc


def describe(exc: Exception) -> str:
    """The driver's own message in one line, without SQL or parameters (which may hold ids)."""
    orig = getattr(exc, "orig", None)
    source = orig if orig is not None else exc
    first_line = (str(source).strip().splitlines() or [""])[0]
    return f"{type(source).__name__}: {first_line}" if first_line else type(source).__name__
