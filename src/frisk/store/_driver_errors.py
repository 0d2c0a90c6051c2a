"""The one place where database driver errors become Frisk errors.

SQLAlchemy wraps sqlite3's and psycopg's exceptions in its own classes, so translating those covers
every driver: an integrity violation is a ``ConflictError``, anything else a ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from frisk.errors import ConflictError, StoreError

__all__ = ["describe", "translate_errors"]


@contextmanager
def translate_errors(doing: str) -> Iterator[None]:
    """Re-raise database errors met while ``doing`` something as Frisk errors."""
    try:
        yield
    except sa_exc.IntegrityError as exc:
        raise ConflictError(f"{doing}: conflicts with what is recorded ({describe(exc)})") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise StoreError(f"{doing}: the ledger failed ({describe(exc)})") from exc


def describe(exc: sa_exc.SQLAlchemyError) -> str:
    """The driver's own message in one line, without SQL or parameters (which may hold ids)."""
    orig = getattr(exc, "orig", None)
    source = orig if orig is not None else exc
    first_line = (str(source).strip().splitlines() or [""])[0]
    return f"{type(source).__name__}: {first_line}" if first_line else type(source).__name__
