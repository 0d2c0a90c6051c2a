"""Group commit: concurrent requests' decisions recorded by one writer, many per transaction.

A decision is durable before it is returned, so every request waits for a commit, and a commit is
an fsync (SQLite ``synchronous=FULL``, PostgreSQL ``synchronous_commit``). One commit per request
caps throughput at one fsync per decision, and on SQLite concurrent writers also fight for the
single write lock, whose busy handler *sleeps* (1, 2, 5, 10 ... ms) between attempts: at 16
connections that gave 155 decisions/s with a p99 over a second.

Here requests hand their record to one writer thread and wait. The writer takes everything queued,
inserts it in one transaction, commits once, then wakes each request with its own outcome. An
idle writer commits a lone record at once (no timer, so sequential latency is not traded away);
under load, records that arrive during a commit share the next one. Durability is unchanged:
no request returns before the commit holding its row has succeeded; if it fails, every request in
the batch gets the error (and the client a 503), none a decision.

Failures stay with their cause. When the ledger refuses one record for its content
(``RecordRefusedError``), each request of the batch is committed again on its own, so only the
request that sent it fails. A waiter gives up after ``wait_seconds`` (a hung database: the
client gets a 503 with ``Retry-After`` and retries; if the commit lands later, the retry is
answered from the ledger).

The writing itself is the ledger's ``record_decisions`` (many rows, one transaction); this module
only gathers the records and wakes their waiters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from frisk.errors import FriskError, RecordRefusedError, StoreError
from frisk.store.breaker import StoreUnavailableError
from frisk.store.ledger import DecisionRecord, Ledger

__all__ = ["DecisionRecorder"]

log = logging.getLogger("frisk.service")

_MAX_BATCH = 256
_LINGER = 0.001  # seconds


@dataclass(slots=True)
class _Pending:
    records: list[DecisionRecord]
    done: threading.Event | None = None  # a waiting thread's
    future: asyncio.Future[list[DecisionRecord]] | None = None  # or a waiting coroutine's
    result: list[DecisionRecord] | None = None
    error: BaseException | None = None

    def settle(self) -> None:
        """Wake the waiter (from the writer thread)."""
        if self.done is not None:
            self.done.set()
        elif self.future is not None:
            # A closed loop: its waiter gave up and is gone.
            with contextlib.suppress(RuntimeError):
                self.future.get_loop().call_soon_threadsafe(self._settle_future)

    def _settle_future(self) -> None:
        future = self.future
        if future is None or future.done():  # the waiting request was cancelled
            return
        if self.error is not None:
            future.set_exception(self.error)
        else:
            assert self.result is not None
            future.set_result(self.result)


class _Expired(Exception):
    """A waiter's time ran out before its commit (``record_decision_async``)."""


def _expire(future: asyncio.Future[list[DecisionRecord]]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class DecisionRecorder:
    """``record_decision`` with the ``Ledger``'s contract, committed in groups by one thread."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        max_batch: int = _MAX_BATCH,
        on_commit: Callable[[int, float], None] | None = None,
        wait_seconds: float | None = None,
    ) -> None:
        self.ledger = ledger
        self.max_batch = max_batch
        # How long a request waits for its commit before answering 503 (None: as long as it takes).
        self.wait_seconds = wait_seconds
        # Told each commit's size and duration, from the writer thread (service metrics).
        self.on_commit = on_commit
        self.commit_seconds = 0.0
        self.longest_commit = 0.0
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="frisk-recorder", daemon=True)
        self._thread.start()
        self.commits = 0
        self.recorded = 0
        self._last_batch = 0

    def record_decision(self, decision: DecisionRecord) -> DecisionRecord:
        """Insert ``decision`` unless its id is recorded, once durable; return the recorded row."""
        return self.record_decisions([decision])[0]

    def record_decisions(self, records: list[DecisionRecord]) -> list[DecisionRecord]:
        """The ledger's ``record_decisions``, committed with whatever else is queued."""
        if not self._thread.is_alive():
            raise StoreError("the decision recorder is stopped")
        if not records:
            return []
        pending = _Pending(records, done=threading.Event())
        self._queue.put(pending)
        assert pending.done is not None
        if not pending.done.wait(self.wait_seconds):
            raise self._gave_up()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    async def record_decision_async(self, decision: DecisionRecord) -> DecisionRecord:
        """``record_decision`` for the event loop: awaits the commit without holding a thread."""
        if not self._thread.is_alive():
            raise StoreError("the decision recorder is stopped")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[DecisionRecord]] = loop.create_future()
        self._queue.put(_Pending([decision], future=future))
        if self.wait_seconds is None:
            return (await future)[0]
        # One timer on the loop: ``asyncio.wait_for`` adds a waiter future, a partial and a
        # done-callback per decision (docs/BENCHMARKS.md, issue #18: fixed per-decision costs).
        timer = loop.call_later(self.wait_seconds, _expire, future)
        try:
            return (await future)[0]
        except _Expired:
            raise self._gave_up() from None
        finally:
            timer.cancel()

    def _gave_up(self) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the ledger did not confirm the decision within {self.wait_seconds:g} s",
            retry_after=1.0,
        )

    def close(self) -> None:
        """Finish what is queued, then stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self.commits:
            log.info(
                "recorded %d decisions in %d commits (%.1f per commit, %.2f ms a commit on "
                "average, longest %.1f ms)",
                self.recorded,
                self.commits,
                self.recorded / self.commits,
                1000 * self.commit_seconds / self.commits,
                1000 * self.longest_commit,
            )

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first.records)
            stop = False
            # Under load (the last commit was shared) linger briefly for more records: a commit
            # costs ~1 ms of CPU (fsync) whatever its size. Alone, commit at once.
            linger = _LINGER if self._last_batch > 1 else 0.0
            deadline = time.monotonic() + linger
            while size < self.max_batch:
                try:
                    wait = deadline - time.monotonic()
                    more = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
                size += len(more.records)
            self._last_batch = size
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        began = time.perf_counter()
        try:
            results = self.ledger.record_decisions([r for p in batch for r in p.records])
        except BaseException as exc:  # every waiter must wake, whatever went wrong
            if isinstance(exc, RecordRefusedError) and len(batch) > 1:
                # One request's record: commit each request alone, so only its own fails.
                for pending in batch:
                    self._commit([pending])
                return
            error = exc if isinstance(exc, FriskError) else StoreError(f"recording failed: {exc}")
            if not isinstance(exc, FriskError):
                log.exception("decision recorder failed")
            for p in batch:
                p.error = error
                p.settle()
            return
        took = time.perf_counter() - began
        self.commits += 1
        self.recorded += len(results)
        self.commit_seconds += took
        self.longest_commit = max(self.longest_commit, took)
        start = 0
        for p in batch:
            p.result = results[start : start + len(p.records)]
            start += len(p.records)
            p.settle()
        if self.on_commit is not None:  # after the waiters are woken: they wait for nothing else
            try:
                self.on_commit(len(results), took)
            except Exception:  # a metrics failure must not stop the writer
                log.exception("recording commit metrics failed")
