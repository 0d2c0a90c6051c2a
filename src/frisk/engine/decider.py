"""Deciding a transaction exactly once: look up the ledger, ask the engine, record, then answer.

``Decider.decide`` is the one entry every caller uses (the HTTP service's routes, uploads, and
any consumer of a stream): nothing here knows HTTP. A transaction id the ledger holds is answered
from the ledger (same body) or refused (another body) without touching the engine, so feature
state sees each transaction once. Requests for the same id are serialised by a striped lock, so
two concurrent retries cannot both reach the engine.

``decide_async`` is for callers on an event loop: it decides on the loop and awaits the group
commit (``engine.recorder``) without holding a thread. A thread that waits (for the ledger, a
lock) must win the GIL back afterwards, behind busy threads, for up to the 5 ms switch interval:
with the service's routes in the thread pool, at 16 connections the event loop starved and the
service made 130-160 decisions/s with an idle thread pool. The decision work itself is CPU work
either way. When a stripe or the engine lock is busy, ``decide_async`` falls back to ``decide``
in a thread (``to_thread``: the caller's pool) rather than block the loop.

Across processes (``frisk serve --workers N``, several nodes on one ledger and one shared feature
state) the striped locks are not enough: with ``claims`` (``frisk.engine.claims``) a new id is
claimed after the ledger look-up and the live checks, and only the claim's holder runs the
engine; another process asking for the same id waits until the ledger holds the decision and
answers it from there (or 409 for another body), so feature state learns the payment once.

What the caller counts (metrics, live statistics) it hears through ``on_decided`` and
``on_replay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from math import isfinite
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError

from frisk.bounds import EventWindow, check_amount
from frisk.engine import DecisionEngine, TakesEventClaims
from frisk.engine.claims import Claims, EventClaims
from frisk.errors import (
    ClaimHeld,
    ConflictError,
    FriskError,
    InputError,
    InvalidEventError,
    NotReadyError,
    RecordRefusedError,
    StateUnavailable,
)
from frisk.features.state import EVENT_CLAIM, EventClaim
from frisk.schema import Transaction, Verdict
from frisk.store.admission import admit
from frisk.store.ledger import DecisionRecord, Ledger

__all__ = ["Decided", "Decider", "body_hash", "decision_record"]

# Runs a call in a worker thread and awaits it: ``asyncio.to_thread``, or a web server's own pool
# (Starlette's ``run_in_threadpool``).
ToThread = Callable[..., Awaitable[Any]]


# Many stripes: the async path falls back to a thread when its stripe is busy.
_STRIPES = 1024
# Decisions per commit in ``decide_many`` (uploads): one fsync for many, stripes held briefly.
_CHUNK = 128


@dataclass(frozen=True, slots=True)
class Decided:
    record: DecisionRecord
    replayed: bool  # True when answered from the ledger


class Decider:
    """Decide-and-record over a ledger and an engine (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        engine: DecisionEngine | None,
        *,
        record: Callable[[DecisionRecord], DecisionRecord] | None = None,
        record_async: Callable[[DecisionRecord], Awaitable[DecisionRecord]] | None = None,
        record_many: Callable[[list[DecisionRecord]], list[DecisionRecord]] | None = None,
        on_decided: Callable[[DecisionRecord, float], None] | None = None,
        on_replay: Callable[[], None] | None = None,
        to_thread: ToThread | None = None,
        window: EventWindow | None = None,
        claims: Claims | None = None,
    ) -> None:
        self.ledger = ledger
        # Claims on ids shared with other processes; None: this process is the only decider.
        self.claims = claims
        # Live events only: how far from the server's clock an event's time may be (None: only
        # the absolute bounds every event has).
        self.window = window
        self.decision_engine = engine
        # The ledger itself, or the group commit in front of it (engine.recorder).
        self._record_decision = record or ledger.record_decision
        self._record_async = record_async
        self._record_many = record_many or ledger.record_decisions
        # A new decision with its time to a verdict in ms; a retry answered from the ledger.
        self._on_decided = on_decided or _ignore_decided
        self._on_replay = on_replay or _ignore_replay
        self._to_thread: ToThread = to_thread or asyncio.to_thread
        self._id_locks = [threading.Lock() for _ in range(_STRIPES)]
        # Engines keep per-entity state; one decision at a time keeps them free of locking.
        self._engine_lock = threading.Lock()
        # A database across the network is asked from a thread: it may hang (store timeouts
        # bound it), and the event loop must keep answering meanwhile.
        self._fast_lookups = bool(getattr(ledger, "fast_lookups", False))

    def decide(self, txn: Transaction) -> Decided:
        """The recorded decision for ``txn``, deciding it first if it is new."""
        started = time.perf_counter()
        body = _body(txn)
        digest = _digest(body)
        with self._id_locks[_stripe(txn)]:
            existing = self._recorded(txn.transaction_id)
            if existing is not None:
                return self._replay(existing, txn, digest)
            self._check_live(txn)
            owner = self._owner()
            engine = self._engine()
            claim = self._event_claim(engine, txn, owner)
            if claim is None and not self._claim(txn, owner):
                answered = self._await_claim(txn, digest, owner)
                if answered is not None:  # decided by the process that held the claim
                    return answered
            try:
                verdict = self._verdict(engine, txn, digest, owner, claim)
                if isinstance(verdict, Decided):  # decided by the process that held the claim
                    return verdict
                record = decision_record(txn, body, digest, verdict, started)
                recorded = self._record_decision(record)
            except BaseException:
                self._release(txn, owner)
                raise
            if recorded is not record:  # another process recorded this id first
                return self._replay(recorded, txn, digest)
        self._on_decided(record, (time.perf_counter() - started) * 1000)
        return Decided(record, replayed=False)

    async def decide_async(self, txn: Transaction) -> Decided:
        """``decide`` from the event loop; the same guarantees (see the module docstring)."""
        stripe = self._id_locks[_stripe(txn)]
        if self._record_async is None or not stripe.acquire(blocking=False):
            decided: Decided = await self._to_thread(self.decide, txn)
            return decided
        started = time.perf_counter()
        try:
            body = _body(txn)
            digest = _digest(body)
            existing = (
                self._recorded(txn.transaction_id)
                if self._fast_lookups  # a local file read: microseconds, never hangs
                else await self._to_thread(self._recorded, txn.transaction_id)
            )
            if existing is not None:
                return self._replay(existing, txn, digest)
            self._check_live(txn)
            owner = self._owner()
            engine = self._engine()
            claim = self._event_claim(engine, txn, owner)
            if claim is None and not self._claim(txn, owner):
                # another process decides it: wait in a thread
                answered: Decided | None = await self._to_thread(
                    self._await_claim, txn, digest, owner
                )
                if answered is not None:
                    return answered
            try:
                verdict = await self._verdict_async(engine, txn, digest, owner, claim)
                if isinstance(verdict, Decided):  # decided by the process that held the claim
                    return verdict
                record = decision_record(txn, body, digest, verdict, started)
                recorded = await self._record_async(record)
            except BaseException:
                self._release(txn, owner)
                raise
            if recorded is not record:
                return self._replay(recorded, txn, digest)
        finally:
            stripe.release()
        self._on_decided(record, (time.perf_counter() - started) * 1000)
        return Decided(record, replayed=False)

    def decide_many(self, txns: Sequence[Transaction]) -> list[Decided | FriskError]:
        """``decide`` for each of ``txns`` in order, recording up to ``_CHUNK`` per commit.

        Each item is the transaction's ``Decided``, or the ``ConflictError`` / ``InputError`` /
        ``RecordRefusedError`` that ``decide`` would have raised for it alone (a chunk the ledger
        refuses is recorded again row by row, so only the refused row fails); other errors
        (store, engine) stop the call.
        Nothing is returned before the commit holding it, so durability is as for ``decide``.
        """
        out: list[Decided | FriskError] = []
        for start in range(0, len(txns), _CHUNK):
            out.extend(self._decide_chunk(txns[start : start + _CHUNK]))
        return out

    def _decide_chunk(self, txns: Sequence[Transaction]) -> list[Decided | FriskError]:
        # The chunk's stripes, in one order for every caller (no deadlock), are held until its
        # decisions are recorded: a concurrent request for one of its ids waits, then replays.
        locks = [self._id_locks[i] for i in sorted({_stripe(t) for t in txns})]
        for lock in locks:
            lock.acquire()
        try:
            results: list[Decided | FriskError | None] = [None] * len(txns)
            pending: list[tuple[int, DecisionRecord, str, Transaction]] = []
            pending_ids: set[str] = set()
            owner = self._owner()  # one owner for the chunk's claims
            try:
                for i, txn in enumerate(txns):
                    started = time.perf_counter()
                    if txn.transaction_id in pending_ids:  # an id twice: its first is recorded
                        self._flush(pending, results)
                        pending_ids.clear()
                    try:
                        body = _body(txn)
                        digest = _digest(body)
                        existing = self._recorded(txn.transaction_id)
                        if existing is not None:
                            results[i] = self._replay(existing, txn, digest)
                            continue
                        self._check_live(txn)
                        engine = self._engine()
                        claim = self._event_claim(engine, txn, owner)

                        def flush() -> None:  # nothing of ours waits while we wait
                            self._flush(pending, results)
                            pending_ids.clear()

                        if claim is None and not self._claim(txn, owner):
                            flush()
                            answered = self._await_claim(txn, digest, owner)
                            if answered is not None:
                                results[i] = answered
                                continue
                        try:
                            verdict = self._verdict(engine, txn, digest, owner, claim, flush)
                        except BaseException:
                            self._release(txn, owner)
                            raise
                        if isinstance(verdict, Decided):  # decided by the claim's holder
                            results[i] = verdict
                            continue
                    except (ConflictError, InputError) as exc:
                        results[i] = exc
                        continue
                    record = decision_record(txn, body, digest, verdict, started)
                    pending.append((i, record, digest, txn))
                    pending_ids.add(txn.transaction_id)
                self._flush(pending, results)
            except BaseException:
                for _, _, _, txn in pending:  # not recorded: others may decide them
                    self._release(txn, owner)
                raise
        finally:
            for lock in reversed(locks):
                lock.release()
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    def _flush(
        self,
        pending: list[tuple[int, DecisionRecord, str, Transaction]],
        results: list[Decided | FriskError | None],
    ) -> None:
        if not pending:
            return
        try:
            recorded = self._record_many([record for _, record, _, _ in pending])
        except RecordRefusedError as exc:
            if len(pending) == 1:
                results[pending[0][0]] = exc
            else:  # one row's content: record each alone, so only that row fails
                for item in pending:
                    self._flush([item], results)
            pending.clear()
            return
        for (i, record, digest, txn), got in zip(pending, recorded, strict=True):
            if got is record:
                self._on_decided(record, float(record.timings.get("total", 0.0)))
                results[i] = Decided(record, replayed=False)
                continue
            try:  # recorded first by another process
                results[i] = self._replay(got, txn, digest)
            except ConflictError as exc:
                results[i] = exc
        pending.clear()

    def _owner(self) -> str:
        """A token naming one attempt to decide (a claim's owner); without claims none is
        needed, and a random token is a system call per decision."""
        return "" if self.claims is None else os.urandom(8).hex()

    def _claim(self, txn: Transaction, owner: str) -> bool:
        """Claim ``txn``'s id for ``owner``; True without claims (this process alone decides)."""
        return self.claims is None or self.claims.claim(txn.transaction_id, owner)

    def _release(self, txn: Transaction, owner: str) -> None:
        if self.claims is None:
            return
        with contextlib.suppress(StateUnavailable):  # the claim then expires by itself
            self.claims.release(txn.transaction_id, owner)

    def _await_claim(self, txn: Transaction, digest: str, owner: str) -> Decided | None:
        """Wait while another process holds ``txn``'s claim: its recorded decision (replayed),
        or None once the claim is ``owner``'s (its holder failed, or its claim expired)."""
        claims = self.claims
        assert claims is not None
        deadline = time.monotonic() + 2 * claims.seconds
        pause = 0.002
        while True:
            existing = self._recorded(txn.transaction_id)
            if existing is not None:
                return self._replay(existing, txn, digest)
            if claims.claim(txn.transaction_id, owner):
                return None
            if time.monotonic() > deadline:
                raise StateUnavailable(
                    f"transaction {txn.transaction_id!r} is claimed by another process that has "
                    "not recorded a decision for it; retry later"
                )
            time.sleep(pause)
            pause = min(2 * pause, 0.05)

    def _event_claim(
        self, engine: DecisionEngine, txn: Transaction, owner: str
    ) -> EventClaim | None:
        """The claim that the engine's feature store takes with the event (one round trip for
        both), or None: then it is claimed apart, first."""
        claims = self.claims
        if claims is None or not isinstance(claims, EventClaims):
            return None
        if not (isinstance(engine, TakesEventClaims) and engine.takes_event_claims):
            return None
        return claims.for_event(txn.transaction_id, owner)

    def _verdict(
        self,
        engine: DecisionEngine,
        txn: Transaction,
        digest: str,
        owner: str,
        claim: EventClaim | None,
        before_waiting: Callable[[], None] | None = None,
    ) -> Verdict | Decided:
        """The engine's verdict on ``txn`` with its claim held by ``owner``; with ``claim``, the
        store takes it with the event, and when another process holds it, the decision that
        process records (``before_waiting`` runs first). If the event did not reach the store
        (unavailable: decided without state), the claim is taken apart now: nothing was
        written."""
        if claim is None:
            return self._decide(engine, txn)
        try:
            verdict = self._decide(engine, txn, claim)
        except ClaimHeld:
            if before_waiting is not None:
                before_waiting()
            answered = self._await_claim(txn, digest, owner)
            if answered is not None:
                return answered
            verdict = self._decide_again(engine, txn, claim)
        return self._claimed(engine, txn, digest, owner, claim, verdict, before_waiting)

    async def _verdict_async(
        self,
        engine: DecisionEngine,
        txn: Transaction,
        digest: str,
        owner: str,
        claim: EventClaim | None,
    ) -> Verdict | Decided:
        """``_verdict`` on the event loop: the engine on the loop when its lock is free (else in
        a thread), any wait for another process in a thread."""
        try:
            if self._engine_lock.acquire(blocking=False):
                try:
                    verdict = _with_claim(engine, txn, claim)
                finally:
                    self._engine_lock.release()
            else:  # a batch or a snapshot holds the engine: wait in a thread, not the loop
                verdict = await self._to_thread(self._decide, engine, txn, claim)
        except ClaimHeld:
            assert claim is not None
            answered: Decided | None = await self._to_thread(self._await_claim, txn, digest, owner)
            if answered is not None:
                return answered
            verdict = await self._to_thread(self._decide_again, engine, txn, claim)
        if claim is None or claim.taken:
            return verdict
        claimed: Verdict | Decided = await self._to_thread(
            self._claimed, engine, txn, digest, owner, claim, verdict, None
        )
        return claimed

    def _claimed(
        self,
        engine: DecisionEngine,
        txn: Transaction,
        digest: str,
        owner: str,
        claim: EventClaim,
        verdict: Verdict,
        before_waiting: Callable[[], None] | None,
    ) -> Verdict | Decided:
        """``verdict`` once the claim is ``owner``'s: taken with the event, or apart now."""
        if claim.taken or self._claim(txn, owner):
            return verdict
        if before_waiting is not None:
            before_waiting()
        answered = self._await_claim(txn, digest, owner)
        return verdict if answered is None else answered

    def _decide(
        self, engine: DecisionEngine, txn: Transaction, claim: EventClaim | None = None
    ) -> Verdict:
        with self._engine_lock:
            return _with_claim(engine, txn, claim)

    def _decide_again(self, engine: DecisionEngine, txn: Transaction, claim: EventClaim) -> Verdict:
        """The engine once more, the claim ``_await_claim`` took being the owner's now."""
        try:
            return self._decide(engine, txn, claim)
        except ClaimHeld as exc:  # taken again meanwhile (it expired): let the client retry
            raise StateUnavailable(
                f"transaction {txn.transaction_id!r} is claimed by another process; retry later"
            ) from exc

    def _recorded(self, transaction_id: str) -> DecisionRecord | None:
        # Most ids are new: ask cheaply, read the whole record only for a retry.
        if not self.ledger.has_decision(transaction_id):
            return None
        return self.ledger.get_decision(transaction_id)

    def _engine(self) -> DecisionEngine:
        engine = self.decision_engine
        if engine is None:
            raise NotReadyError("no decision engine is loaded")
        if not engine.ready():
            raise NotReadyError("the decision engine is not ready yet")
        return engine

    def _check_live(self, txn: Transaction) -> None:
        """The bounds only a live event has: its time near the server's clock, and no more
        decimal places than its currency has (``frisk.bounds``); with them the amount's range
        again, for a transaction built in code (validation checked it for every other), whose
        1e308 would overflow a feature sum another caller's payee shares."""
        if self.window is not None:
            self.window.check("timestamp", txn.timestamp)
        problem = check_amount(txn.amount, txn.currency)
        if problem is not None:
            raise InvalidEventError("amount", txn.amount, problem)

    def _replay(self, record: DecisionRecord, txn: Transaction, digest: str) -> Decided:
        if record.body_hash != digest and not _same_meaning(record, txn):
            raise ConflictError(
                f"transaction {record.transaction_id!r} was already decided for another body; "
                "a transaction id must not be reused"
            )
        self._on_replay()
        return Decided(record, replayed=True)


def _with_claim(engine: DecisionEngine, txn: Transaction, claim: EventClaim | None) -> Verdict:
    """``engine.decide(txn)`` with ``claim`` for its feature store to take (``EVENT_CLAIM``)."""
    if claim is None:
        return engine.decide(txn)
    token = EVENT_CLAIM.set(claim)
    try:
        return engine.decide(txn)
    finally:
        EVENT_CLAIM.reset(token)


def _ignore_decided(record: DecisionRecord, elapsed_ms: float) -> None:
    return None


def _ignore_replay() -> None:
    return None


def _stripe(txn: Transaction) -> int:
    return hash(txn.transaction_id) % _STRIPES


def body_hash(txn: Transaction) -> str:
    """SHA-256 of the validated transaction, so key order and spacing do not make a new body."""
    return _digest(_body(txn))


def _same_meaning(record: DecisionRecord, txn: Transaction) -> bool:
    """True when the recorded body means ``txn``: bodies recorded before timestamps were kept in
    UTC hash differently for the same instant."""
    try:
        return Transaction.model_validate(record.transaction) == txn
    except ValueError:
        return False


_TIME = TypeAdapter(datetime)


def _body(txn: Transaction) -> dict[str, Any]:
    """The transaction as recorded: its time in UTC, so the same instant written with another
    offset is the same body (``_same_meaning`` still compares bodies recorded before)."""
    try:
        body = txn.model_dump(mode="json")
    except PydanticSerializationError as exc:  # a value built in code that JSON cannot hold
        raise InvalidEventError("body", None, f"cannot be written as JSON ({exc})") from exc
    if txn.timestamp.utcoffset():
        body["timestamp"] = _TIME.dump_python(txn.timestamp.astimezone(UTC), mode="json")
    for name, value in txn.extra.items():
        # Built in code, an extra may be an infinity or NaN, which JSON writes as null: the
        # ledger would hold another body than the one decided. (The amount has its own rule.)
        if value.__class__ is float and not isfinite(value):
            raise InvalidEventError(f"extra.{name}", value, "must be a finite number")
    return body


def _digest(body: dict[str, Any]) -> str:
    """SHA-256 of ``body``'s canonical JSON, once the ledger's admission has let it in: a body
    no ledger can hold is refused here, before the engine learns it (``store.admission``)."""
    return hashlib.sha256(admit(body)).hexdigest()


def decision_record(
    txn: Transaction, body: dict[str, Any], digest: str, verdict: Verdict, started: float
) -> DecisionRecord:
    """The ledger's record of ``verdict`` on ``txn`` (``body``, its validated JSON, whose SHA-256
    is ``digest``), decided from ``started`` (``time.perf_counter``) on."""
    # "total" is the time to a verdict; the ledger write that follows is in the HTTP latency.
    total_ms = (time.perf_counter() - started) * 1000
    return DecisionRecord(
        transaction_id=txn.transaction_id,
        body_hash=digest,
        event_time=txn.timestamp.astimezone(UTC),
        transaction=body,
        features=verdict.features,  # a fresh mapping per verdict, never changed afterwards
        score=verdict.score,
        risk_score=verdict.risk_score,
        tier=verdict.risk_tier,
        action=str(verdict.action),
        reasons=[
            {
                "feature": r.feature,
                "value": r.value,
                "contribution": r.contribution,
                "sentence": r.sentence,
            }
            for r in verdict.reasons
        ],
        model_version=verdict.model_version,
        timings={**verdict.timings, "total": round(total_ms, 3)},
        created_at=datetime.now(UTC),
        degraded=verdict.degraded,
        policy=None if verdict.policy is None else dict(verdict.policy),
    )
