"""Claims on transaction ids (``frisk.engine.claims``): in memory and in Redis, the same rules;
and two deciders ("processes") on one ledger that share claims decide each id once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from frisk.engine.claims import Claims, MemoryClaims
from frisk.engine.decider import Decided, Decider
from frisk.errors import ConflictError, StateUnavailable
from frisk.schema import Transaction
from frisk.store import SqlLedger, default_url, open_ledger

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def make_claims(
    request: pytest.FixtureRequest, require_service: Callable[[str, str, int], None]
) -> Iterator[Callable[[float], Claims]]:
    """``make_claims(seconds)``: claims of each kind; Redis under a fresh prefix."""
    made: list[Any] = []

    def make(seconds: float) -> Claims:
        if request.param == "memory":
            return MemoryClaims(seconds)
        from frisk.config import StateSettings
        from frisk.features.stores.redis_claims import open_claims

        require_service("Redis", "127.0.0.1", 6379)
        prefix = f"frisk-test-claims-{uuid.uuid4().hex[:10]}"
        # Generous timeouts: two shared cores under a parallel test run are slow to answer.
        state = StateSettings(
            url=REDIS_URL, key_prefix=prefix, claim_seconds=seconds, timeout=5, connect_timeout=5
        )
        claims = open_claims(state)
        made.append(claims)
        return claims

    yield make
    for claims in made:
        claims.client.delete(*claims.client.keys(f"{claims.prefix}:*") or ["-"])
        claims.close()


def test_a_claim_is_exclusive_until_released_by_its_owner(
    make_claims: Callable[[float], Claims],
) -> None:
    claims = make_claims(30.0)
    assert claims.claim("t-1", "a")
    assert not claims.claim("t-1", "b")
    assert claims.claim("t-1", "a")  # its owner's already (an event took it, its answer lost)
    claims.release("t-1", "b")  # not b's to give up
    assert not claims.claim("t-1", "b")
    claims.release("t-1", "a")
    assert claims.claim("t-1", "b")
    assert claims.claim("t-2", "a")  # ids are independent


def test_a_claim_expires_by_itself(make_claims: Callable[[float], Claims]) -> None:
    claims = make_claims(0.2)
    assert claims.claim("t-1", "a")
    assert not claims.claim("t-1", "b")
    time.sleep(0.4)
    assert claims.claim("t-1", "b")  # its owner died holding it: taken over
    claims.release("t-1", "a")  # a late release of an expired claim keeps the new owner's
    assert not claims.claim("t-1", "c")


def test_memory_claims_follow_their_clock() -> None:
    now = [0.0]
    claims = MemoryClaims(5.0, clock=lambda: now[0])
    assert claims.claim("t", "a")
    now[0] = 4.9
    assert not claims.claim("t", "b")
    now[0] = 5.0
    assert claims.claim("t", "b")


def test_unreachable_redis_claims_are_state_unavailable() -> None:
    from frisk.config import StateSettings
    from frisk.features.stores.redis_claims import open_claims

    claims = open_claims(
        StateSettings(url="redis://127.0.0.1:1/0", connect_timeout=0.2, timeout=0.2)
    )
    with pytest.raises(StateUnavailable, match="claims in Redis"):
        claims.claim("t-1", "a")
    claims.close()


# -- deciders sharing claims --------------------------------------------------------------


class SlowEngine:
    """The amount engine, slowed so that concurrent requests meet before the first records."""

    def __init__(self, inner: Any, delay: float = 0.2, fail: bool = False) -> None:
        self.inner = inner
        self.delay = delay
        self.fail = fail
        self.model_version = inner.model_version
        self.calls = 0

    def ready(self) -> bool:
        return True

    def reload(self) -> None:
        pass

    def decide(self, txn: Transaction) -> Any:
        self.calls += 1
        time.sleep(self.delay)
        if self.fail:
            raise StateUnavailable("the engine's state store went away")
        return self.inner.decide(txn)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqlLedger]:
    opened = open_ledger(default_url(tmp_path))
    yield opened
    opened.close()


def _race(deciders: list[Decider], txns: list[Transaction]) -> list[Decided | Exception]:
    """Each decider decides its transaction at the same moment, from its own thread."""
    barrier = threading.Barrier(len(deciders))

    def one(i: int) -> Decided | Exception:
        barrier.wait()
        try:
            return deciders[i].decide(txns[i])
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(deciders)) as pool:
        return list(pool.map(one, range(len(deciders))))


def test_two_processes_with_shared_claims_decide_a_duplicate_once(
    make_claims: Callable[[float], Claims], ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    claims = make_claims(30.0)
    engines = [SlowEngine(amount_engine), SlowEngine(amount_engine)]
    deciders = [Decider(ledger, e, claims=claims) for e in engines]
    same = Transaction.model_validate(txn_body("dup-1", amount=6000.0))
    results = _race(deciders, [same, same])
    assert sum(e.calls for e in engines) == 1  # feature state learnt it once
    decided = [r for r in results if isinstance(r, Decided)]
    assert len(decided) == 2
    assert decided[0].record == decided[1].record == ledger.get_decision("dup-1")
    assert sorted(d.replayed for d in decided) == [False, True]


def test_without_claims_both_processes_would_run_the_engine(
    ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    # The control: what the claims prevent (the ledger alone keeps one record, not one count).
    engines = [SlowEngine(amount_engine), SlowEngine(amount_engine)]
    deciders = [Decider(ledger, e) for e in engines]
    same = Transaction.model_validate(txn_body("dup-1", amount=6000.0))
    results = _race(deciders, [same, same])
    assert sum(e.calls for e in engines) == 2
    assert all(isinstance(r, Decided) for r in results)


def test_the_same_id_with_another_body_waits_then_is_refused(
    make_claims: Callable[[float], Claims], ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    claims = make_claims(30.0)
    engines = [SlowEngine(amount_engine), SlowEngine(amount_engine)]
    deciders = [Decider(ledger, e, claims=claims) for e in engines]
    first = Transaction.model_validate(txn_body("dup-2", amount=6000.0))
    other = Transaction.model_validate(txn_body("dup-2", amount=10.0))
    results = _race(deciders, [first, other])
    assert sum(e.calls for e in engines) == 1
    assert sum(isinstance(r, ConflictError) for r in results) == 1
    assert sum(isinstance(r, Decided) for r in results) == 1


def test_a_holder_that_fails_releases_the_claim_to_the_next(
    make_claims: Callable[[float], Claims], ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    claims = make_claims(30.0)
    failing = Decider(ledger, SlowEngine(amount_engine, fail=True), claims=claims)
    working = Decider(ledger, SlowEngine(amount_engine), claims=claims)
    txn = Transaction.model_validate(txn_body("dup-3"))
    with pytest.raises(StateUnavailable):
        failing.decide(txn)
    assert working.decide(txn).replayed is False  # no 30 s wait: the claim was released


def test_a_claim_whose_holder_died_is_taken_over_after_it_expires(
    make_claims: Callable[[float], Claims], ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    claims = make_claims(0.3)
    assert claims.claim("dup-4", "a-process-that-was-killed")
    decider = Decider(ledger, SlowEngine(amount_engine, delay=0.0), claims=claims)
    decided = decider.decide(Transaction.model_validate(txn_body("dup-4")))
    assert decided.replayed is False
    assert ledger.get_decision("dup-4") == decided.record


def test_async_deciders_with_shared_claims_decide_a_duplicate_once(
    make_claims: Callable[[float], Claims], ledger: SqlLedger, amount_engine: Any, txn_body: Any
) -> None:
    import asyncio

    from frisk.engine.recorder import DecisionRecorder

    claims = make_claims(30.0)
    recorder = DecisionRecorder(ledger)
    engines = [SlowEngine(amount_engine, delay=0.0), SlowEngine(amount_engine, delay=0.0)]
    deciders = [
        Decider(ledger, e, claims=claims, record_async=recorder.record_decision_async)
        for e in engines
    ]
    same = Transaction.model_validate(txn_body("dup-5"))
    # The second decider finds the id claimed (as another process would leave it) and waits.
    assert claims.claim("dup-5", "first")

    async def both() -> list[Decided]:
        waiting = asyncio.ensure_future(deciders[1].decide_async(same))
        await asyncio.sleep(0.1)
        first = await asyncio.to_thread(_decide_as, deciders[0], same, claims, "first")
        return [first, await waiting]

    try:
        first, second = asyncio.run(both())
    finally:
        recorder.close()
    assert sum(e.calls for e in engines) == 1
    assert sorted([first.replayed, second.replayed]) == [False, True]
    assert second.record == first.record


def _decide_as(decider: Decider, txn: Transaction, claims: Claims, owner: str) -> Decided:
    """Decide ``txn`` as the process that holds its claim already (``owner``)."""
    claims.release(txn.transaction_id, owner)
    return decider.decide(txn)


# -- the claim taken with the event (one Redis) --------------------------------------------


class StateEngine(SlowEngine):
    """The amount engine behind feature state in Redis: each decision learns its transaction
    first (so the state store takes an ``EVENT_CLAIM`` set around it), as ``ModelEngine`` does."""

    takes_event_claims = True

    def __init__(self, inner: Any, online: Any, delay: float = 0.2) -> None:
        super().__init__(inner, delay)
        self.online = online
        self.learnt = 0

    def decide(self, txn: Transaction) -> Any:
        from frisk.engine.warmup import event_of

        self.calls += 1
        time.sleep(self.delay)
        self.online.update(event_of(txn))  # ClaimHeld when another process holds the claim
        self.learnt += 1
        return self.inner.decide(txn)


@pytest.fixture
def redis_decider_parts(
    require_service: Callable[[str, str, int], None],
) -> Iterator[Callable[[], tuple[Any, Any]]]:
    """``make()``: (claims, an ``OnlineFeatures`` over a Redis store), all sharing one prefix."""
    import redis

    from frisk.config import StateSettings
    from frisk.features import OnlineFeatures, resolve_catalogue
    from frisk.features.stores.redis import RedisStore
    from frisk.features.stores.redis_claims import open_claims
    from frisk.features.testing import random_events

    require_service("Redis", "127.0.0.1", 6379)
    prefix = f"frisk-test-eclaims-{uuid.uuid4().hex[:10]}"
    catalogue = resolve_catalogue("default", random_events(1, 20))
    made: list[Any] = []

    def make() -> tuple[Any, Any]:
        state = StateSettings(url=REDIS_URL, key_prefix=prefix, timeout=5, connect_timeout=5)
        claims = open_claims(state)
        store = RedisStore.connect(REDIS_URL, key_prefix=prefix, timeout=5.0)
        made.extend([claims, store])
        return claims, OnlineFeatures(catalogue, store)

    yield make
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(*client.keys(f"{prefix}:*") or ["-"])
    client.close()
    for thing in made:
        thing.close()


def _requests() -> tuple[list[int], Callable[[], None]]:
    """Count the requests redis-py's connections send; call the second item to stop."""
    from redis.connection import Connection

    sent = [0]
    original = Connection.send_packed_command

    def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        original(self, command, check_health)

    Connection.send_packed_command = counting  # type: ignore[method-assign]

    def stop() -> None:
        Connection.send_packed_command = original  # type: ignore[method-assign]

    return sent, stop


def test_a_new_transaction_is_claimed_and_learnt_in_one_round_trip(
    redis_decider_parts: Callable[[], tuple[Any, Any]],
    ledger: SqlLedger,
    amount_engine: Any,
    txn_body: Any,
) -> None:
    claims, online = redis_decider_parts()
    engine = StateEngine(amount_engine, online, delay=0.0)
    decider = Decider(ledger, engine, claims=claims)
    sent, stop = _requests()
    try:
        decided = decider.decide(Transaction.model_validate(txn_body("one-trip")))
    finally:
        stop()
    assert decided.replayed is False
    assert sent[0] == 1  # the claim and the event: one script call
    holder = claims.held_by("one-trip")
    assert holder is not None  # the claim is held, and it is the event's owner's
    assert not claims.claim("one-trip", "someone-else")


def test_processes_claiming_with_the_event_learn_a_duplicate_once(
    redis_decider_parts: Callable[[], tuple[Any, Any]],
    ledger: SqlLedger,
    amount_engine: Any,
    txn_body: Any,
) -> None:
    engines, deciders = [], []
    for _ in range(2):
        claims, online = redis_decider_parts()
        engine = StateEngine(amount_engine, online)
        engines.append(engine)
        deciders.append(Decider(ledger, engine, claims=claims))
    same = Transaction.model_validate(txn_body("dup-e1", amount=6000.0))
    results = _race(deciders, [same, same])
    assert sum(e.learnt for e in engines) == 1  # feature state learnt it once
    decided = [r for r in results if isinstance(r, Decided)]
    assert len(decided) == 2
    assert decided[0].record == decided[1].record == ledger.get_decision("dup-e1")
    assert sorted(d.replayed for d in decided) == [False, True]


def test_an_async_decider_meeting_a_held_claim_answers_the_holders_decision(
    redis_decider_parts: Callable[[], tuple[Any, Any]],
    ledger: SqlLedger,
    amount_engine: Any,
    txn_body: Any,
) -> None:
    import asyncio

    from frisk.engine.recorder import DecisionRecorder

    claims, online = redis_decider_parts()
    recorder = DecisionRecorder(ledger)
    engine = StateEngine(amount_engine, online, delay=0.0)
    waiting = Decider(ledger, engine, claims=claims, record_async=recorder.record_decision_async)
    holder = Decider(ledger, SlowEngine(amount_engine, delay=0.0), claims=claims)
    same = Transaction.model_validate(txn_body("dup-e2"))
    assert claims.claim("dup-e2", "first")  # another process is deciding it

    async def both() -> list[Decided]:
        pending = asyncio.ensure_future(waiting.decide_async(same))
        await asyncio.sleep(0.1)
        first = await asyncio.to_thread(_decide_as, holder, same, claims, "first")
        return [first, await pending]

    try:
        first, second = asyncio.run(both())
    finally:
        recorder.close()
    assert first.replayed is False
    assert second.replayed is True
    assert second.record == first.record == ledger.get_decision("dup-e2")
    assert engine.learnt == 0  # its event met the claim and wrote nothing
