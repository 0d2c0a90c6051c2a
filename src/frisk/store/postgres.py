"""PostgreSQL engines whose every wait is bounded: connect, pool checkout, and each statement.

A database that stops answering (frozen, partitioned, behind a stuck proxy) must become a quick
503, not a request that waits for as long as the outage lasts:

- **connect**: libpq's ``connect_timeout`` (whole seconds, at least 2).
- **pool checkout**: SQLAlchemy's ``pool_timeout``.
- **statement, server side**: ``statement_timeout`` (and ``lock_timeout``,
  ``idle_in_transaction_session_timeout``) in the connection's options; the server cancels a
  statement that runs too long.
- **statement, client side**: a server that does not answer at all never cancels anything, and
  the kernel acknowledges what is sent to a frozen process, so TCP timeouts do not fire either.
  Each wait of a connection (``psycopg.Connection.wait``: every statement, commit and fetch) is
  bounded by ``answer`` seconds; past it the connection is closed (its state is unknown) and the
  statement fails like a dropped connection, which SQLAlchemy's pool then replaces.
- After a timeout or a lost connection a ``Breaker`` fails calls at once for ``cool_down`` seconds
  (``StoreUnavailableError`` with its ``retry_after``), so callers queued behind a hung database
  do not each wait for it; then one call at a time probes it, and the first success closes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
import sqlalchemy as sa
from psycopg import errors as pg_errors
from sqlalchemy.engine import URL, Engine

from frisk.store.breaker import Breaker

if TYPE_CHECKING:
    from frisk.config import StoreSettings

__all__ = ["StoreTimeouts", "postgres_engine", "timeouts_of"]


@dataclass(frozen=True, slots=True)
class StoreTimeouts:
    """Seconds each kind of wait on the database may last (see the module docstring)."""

    connect: float = 2.0
    statement: float | None = 5.0  # None: no statement bound (migrations, offline tools)
    pool: float = 2.0
    cool_down: float = 1.0

    @property
    def answer(self) -> float | None:
        """The client-side bound on one wait: the server's own bound, plus a second for it to
        report the cancellation."""
        return None if self.statement is None else self.statement + 1.0


def timeouts_of(settings: StoreSettings) -> StoreTimeouts:
    """The timeouts ``settings`` (``FRISK_STORE__*``) name."""
    return StoreTimeouts(
        connect=settings.connect_timeout,
        statement=settings.statement_timeout,
        pool=settings.pool_timeout,
        cool_down=settings.cool_down,
    )


def postgres_engine(url: URL, timeouts: StoreTimeouts, *, echo: bool = False) -> Engine:
    """An engine for a ``postgresql+psycopg`` URL with ``timeouts`` on every wait."""
    breaker = Breaker("ledger database", timeouts.cool_down)
    connection_class = _guarded(breaker, timeouts.answer)
    engine = sa.create_engine(
        url,
        echo=echo,
        # pre_ping: a connection the server closed while idle is replaced, not handed out.
        pool_pre_ping=True,
        pool_size=10,
        pool_timeout=timeouts.pool,
    )
    options = []
    if timeouts.statement is not None:
        ms = max(1, round(timeouts.statement * 1000))
        options += [
            f"-c statement_timeout={ms}",
            f"-c lock_timeout={ms}",
            f"-c idle_in_transaction_session_timeout={max(ms * 4, 10_000)}",
        ]
    connect_timeout = max(2, math.ceil(timeouts.connect))

    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        probe = breaker.before()
        given = str(cparams.get("options", "")).strip()
        if options:
            cparams["options"] = " ".join([given, *options]).strip()
        cparams.setdefault("connect_timeout", connect_timeout)
        try:
            connection = connection_class.connect(*cargs, **cparams)
        except psycopg.OperationalError as exc:
            breaker.failed(_first_line(exc), probe)
            raise
        breaker.succeeded(probe)
        return connection

    sa.event.listen(engine, "do_connect", connect)
    return engine


def _guarded(breaker: Breaker, answer: float | None) -> type[psycopg.Connection[Any]]:
    class GuardedConnection(psycopg.Connection[Any]):
        """A psycopg connection whose waits are bounded by ``answer`` and watched by ``breaker``."""

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            probe = breaker.before()
            try:
                result = super().wait(gen, interval, answer if timeout is None else timeout)
            except pg_errors._WaitTimeout:
                self.pgconn.finish()  # mid-protocol: the connection cannot be used again
                breaker.failed(f"no answer within {answer} s", probe)
                raise psycopg.OperationalError(
                    f"the database did not answer within {answer} s"
                ) from None
            except psycopg.OperationalError as exc:
                if self.closed or self.broken:
                    breaker.failed(_first_line(exc), probe)
                raise
            breaker.succeeded(probe)
            return result

    return GuardedConnection


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
