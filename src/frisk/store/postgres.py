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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import psycopg
import sqlalchemy as sa
from psycopg import errors as pg_errors
from sqlalchemy.engine import URL, Engine

from frisk.store.breaker import Breaker

if TYPE_CHECKING:
    from frisk.config import StoreSettings

__all__ = ["StoreTimeouts", "driver_autocommit", "postgres_engine", "timeouts_of"]


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
        # Up to 20 connections a process, as before with 10 + 10 overflow, but kept: under 16
        # concurrent requests the overflow ones were opened and closed ~27 times a second (a
        # server process forked, authenticated and its catalogue caches filled each time).
        pool_size=_POOL_SIZE,
        max_overflow=0,
        pool_timeout=timeouts.pool,
        # The connection returned last is handed out first: the few that the load needs stay
        # busy (their server processes awake, their caches warm) and the rest idle, where
        # first-in-first-out woke each of the 20 in turn. The server's CPU a decision ~13-19 %
        # less (``benchmarks.ab_ledger_postgres``, docs/BENCHMARKS.md #16). One idle past
        # ``PING_AFTER_SECONDS`` is pinged when a burst reaches it.
        pool_use_lifo=True,
    )
    _ping_when_idle(engine)
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


_POOL_SIZE = 20
#: a pooled connection idle for longer than this is pinged before it is handed out
PING_AFTER_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection on checkout only when it has been idle ``PING_AFTER_SECONDS``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip more for each of the
    two or three checkouts of a decision. A connection back from use moments ago has just
    answered; one that sat idle may have been closed by the server (a restart, an idle
    timeout), and is replaced rather than handed out, as with ``pool_pre_ping``. A restart within
    the last second fails the statements of the connections used meanwhile instead: each such
    call is a ``StoreUnavailableError`` (503), and the pool replaces the connection.

    A ping that finds its connection closed does not open the breaker (``pool_pre_ping`` did,
    so the request after an idle connection was dropped was a 503): the pool opens another
    connection, and that fails (and opens the breaker) if the server is really gone. A ping that
    gets no answer still opens it.
    """

    @sa.event.listens_for(engine, "checkin")
    def _returned(_dbapi: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_SECONDS:
            return  # just opened, or just used
        dbapi.pinging = True
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as exc:
            # The pool closes this connection and checks out another (a new one if need be).
            raise sa.exc.DisconnectionError(_first_line(exc)) from exc
        finally:
            dbapi.pinging = False


@contextmanager
def driver_autocommit(engine: Engine) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection's own psycopg connection, in autocommit, for the decision path's
    one-statement calls (the id look-up, a group commit's INSERT).

    SQLAlchemy's ``Connection`` around one statement (its construction, the isolation level set
    and reset, the execution context, the result) cost ~100 µs of the client's CPU; a look-up
    costs ~60 µs in all this way, against ~165 µs. What the pool gives is kept: checkout and
    return with the idle ping (``_ping_when_idle``), the bounded waits and the breaker (the
    connection's own ``wait``). A driver error comes out as SQLAlchemy's class for it
    (``IntegrityError``, ``OperationalError`` ...), which ``translate_errors`` maps as any other;
    a connection left unusable or not idle is invalidated rather than returned to the pool,
    so none goes back in autocommit.
    """
    try:
        fairy = engine.raw_connection()
    except psycopg.Error as exc:  # connecting
        raise _as_sqlalchemy(exc) from exc
    conn = cast("psycopg.Connection[Any]", fairy.driver_connection)
    restored = False
    try:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed and conn.pgconn.transaction_status == _IDLE:
                conn.autocommit = False
                restored = True
    except psycopg.Error as exc:
        raise _as_sqlalchemy(exc) from exc
    finally:
        if not restored:
            fairy.invalidate()
        fairy.close()


def _as_sqlalchemy(exc: psycopg.Error) -> sa.exc.DBAPIError:
    """``exc`` as SQLAlchemy raises it from a statement (the class by the driver's)."""
    wrapped = sa.exc.DBAPIError.instance(None, None, exc, psycopg.Error, hide_parameters=True)
    assert isinstance(wrapped, sa.exc.DBAPIError)
    return wrapped


_IDLE = psycopg.pq.TransactionStatus.IDLE


def _guarded(breaker: Breaker, answer: float | None) -> type[psycopg.Connection[Any]]:
    class GuardedConnection(psycopg.Connection[Any]):
        """A psycopg connection whose waits are bounded by ``answer`` and watched by ``breaker``."""

        pinging = False  # a closed connection found by the idle ping is not a failure

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
                if (self.closed or self.broken) and not self.pinging:
                    breaker.failed(_first_line(exc), probe)
                raise
            breaker.succeeded(probe)
            return result

    return GuardedConnection


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
