"""Deciding a stream: exactly-once effect on a broker's at-least-once delivery.

One loop, one batch at a time (``consumer.batch`` messages in flight at most):

1. fetch up to a batch of payments (this member's own unacknowledged ones first, then a dead
   member's, then new ones);
2. read each: one that is not JSON, or not a valid payment, becomes a dead letter;
3. decide the valid ones with ``Decider.decide_many``: the same engine, rules and ledger as
   ``POST /v1/score``, recorded in one commit. A transaction id the ledger already holds (a
   redelivery) is answered from the ledger: the same decision, feature state untouched;
4. publish each decision (dedupe key: the transaction id) and each dead letter (key: the
   message's id), and wait until the broker has stored them;
5. acknowledge the batch.

A consumer that dies anywhere before 5 loses nothing: the broker delivers the batch again and
steps 3-4 repeat with the recorded decisions, which the broker's dedupe keeps from being
published twice. One that dies after 5 has nothing left to do. A batch the ledger, the state
store or the engine refuses (``StoreError``, ``StateUnavailable``, not ready) is not
acknowledged and is tried again every ``consumer.retry_seconds``.

Labels (a chargeback feed) go the same way into the ledger and the engine's label features
(``frisk.engine.labels``); an unchanged label is not applied twice. ``stop`` drains: the batch
in hand is finished and acknowledged, then the loop returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from frisk.engine import DecisionEngine
from frisk.engine.decider import Decided, Decider
from frisk.engine.labels import record_labels
from frisk.errors import FriskError, InputError, NotReadyError, StateUnavailable, StoreError
from frisk.schema import Transaction
from frisk.store.ledger import LabelWrite, Ledger
from frisk.streams.broker import Broker
from frisk.streams.messages import (
    Delivery,
    MessageMapping,
    dead_letter,
    decision_message,
    now_utc,
    read_json,
    read_label,
    read_payment,
)
from frisk.streams.metrics import ConsumerMetrics

__all__ = ["Consumer", "Streams"]

log = logging.getLogger("frisk.streams")

T = TypeVar("T")

# Errors a later attempt may not meet: the batch waits, unacknowledged, and is tried again.
RETRIED = (StoreError, StateUnavailable, NotReadyError)


@dataclass(frozen=True, slots=True)
class Streams:
    """The names a consumer reads and writes."""

    input: str
    output: str
    dead_letters: str
    labels: str | None = None

    @property
    def sources(self) -> list[str]:
        return [self.input] if self.labels is None else [self.input, self.labels]

    @property
    def targets(self) -> list[str]:
        return [self.output, self.dead_letters]


class Consumer:
    """Decides payments and records labels from ``broker`` (see the module docstring)."""

    def __init__(
        self,
        broker: Broker,
        decider: Decider,
        streams: Streams,
        *,
        batch: int = 256,
        wait_seconds: float = 1.0,
        retry_seconds: float = 1.0,
        mapping: MessageMapping | None = None,
        metrics: ConsumerMetrics | None = None,
        actor: str = "consumer",
    ) -> None:
        self.broker = broker
        self.decider = decider
        self.streams = streams
        self.batch = batch
        self.wait_seconds = wait_seconds
        self.retry_seconds = retry_seconds
        self.mapping = mapping
        self.metrics = metrics or ConsumerMetrics()
        self.actor = actor
        self._lag_at = -float("inf")

    @property
    def ledger(self) -> Ledger:
        return self.decider.ledger

    @property
    def engine(self) -> DecisionEngine | None:
        return self.decider.decision_engine

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is finished first."""
        await self.broker.open(self.streams.sources, self.streams.targets)
        try:
            while not stop.is_set():
                await self.step(stop)
        finally:
            await self.broker.close()

    async def step(self, stop: asyncio.Event | None = None) -> int:
        """One round: a batch of payments, then of labels; how many messages were handled."""
        labels = self.streams.labels
        wait = self.wait_seconds if labels is None else self.wait_seconds / 2
        payments = await self.broker.fetch(self.streams.input, "event", self.batch, wait)
        handled = 0
        if payments:
            handled += await self._payments(payments, stop)
        if labels is not None:
            got = await self.broker.fetch(labels, "label", self.batch, 0.01 if handled else wait)
            if got:
                handled += await self._labels(got, stop)
        await self._observe_lag()
        return handled

    # -- payments ----------------------------------------------------------------------------

    async def _payments(self, deliveries: Sequence[Delivery], stop: asyncio.Event | None) -> int:
        started = time.perf_counter()
        source = self.streams.input
        read = self._read_payments(deliveries)
        valid = [
            (d, r) for d, r in zip(deliveries, read, strict=True) if isinstance(r, Transaction)
        ]
        txns = [r for _, r in valid if isinstance(r, Transaction)]
        decided = await self._retrying(lambda: self.decider.decide_many(txns), stop)
        if decided is None:
            return 0  # stopping while the ledger refuses: the broker delivers them again
        outcome: dict[int, Decided | FriskError] = {
            id(d): result for (d, _), result in zip(valid, decided, strict=True)
        }
        published: list[tuple[str, bytes]] = []
        dead: list[tuple[str, bytes]] = []
        counts = {"decided": 0, "replayed": 0, "dead_letter": 0}
        for delivery, got in zip(deliveries, read, strict=True):
            result = outcome.get(id(delivery), got)
            if isinstance(result, Decided):
                record = result.record
                published.append((record.transaction_id, decision_message(record)))
                counts["replayed" if result.replayed else "decided"] += 1
            else:
                assert isinstance(result, FriskError)
                dead.append((f"{source}:{delivery.id}", dead_letter(source, delivery, result)))
                counts["dead_letter"] += 1
        await self.broker.publish(self.streams.output, "decision", published)
        await self.broker.publish(self.streams.dead_letters, "dead_letter", dead)
        await self.broker.ack(source, deliveries)
        for outcome_name, count in counts.items():
            if count:
                self.metrics.messages.labels(stream=source, outcome=outcome_name).inc(count)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.handled(len(deliveries))
        return len(deliveries)

    def _read_payments(self, deliveries: Sequence[Delivery]) -> list[Transaction | FriskError]:
        if self.mapping is None:
            out: list[Transaction | FriskError] = []
            for d in deliveries:
                try:
                    out.append(read_payment(d.data))
                except InputError as exc:
                    out.append(exc)
            return out
        bodies: list[dict[str, Any]] = []
        where: list[int] = []
        result: list[Transaction | FriskError] = []
        for i, d in enumerate(deliveries):
            try:
                bodies.append(read_json(d.data, "event"))
                where.append(i)
                result.append(InputError("not read"))  # replaced below
            except InputError as exc:
                result.append(exc)
        for i, txn in zip(where, self.mapping.transactions(bodies), strict=True):
            result[i] = txn
        return result

    # -- labels ------------------------------------------------------------------------------

    async def _labels(self, deliveries: Sequence[Delivery], stop: asyncio.Event | None) -> int:
        started = time.perf_counter()
        source = self.streams.labels or ""
        now = now_utc()
        writes: list[LabelWrite] = []
        dead: list[tuple[str, bytes]] = []
        for d in deliveries:
            try:
                writes.append(read_label(d.data, now))
            except InputError as exc:
                dead.append((f"{source}:{d.id}", dead_letter(source, d, exc)))
        if writes:
            done = await self._retrying(
                lambda: record_labels(self.ledger, self.engine, writes, self.actor), stop
            )
            if done is None:
                return 0
        await self.broker.publish(self.streams.dead_letters, "dead_letter", dead)
        await self.broker.ack(source, deliveries)
        if writes:
            self.metrics.messages.labels(stream=source, outcome="label").inc(len(writes))
        if dead:
            self.metrics.messages.labels(stream=source, outcome="dead_letter").inc(len(dead))
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.handled(len(deliveries))
        return len(deliveries)

    # -- shared ------------------------------------------------------------------------------

    async def _retrying(self, work: Callable[[], T], stop: asyncio.Event | None) -> T | None:
        """``work()`` in a thread, again every ``retry_seconds`` while it fails for a reason a
        later attempt may not meet; None if ``stop`` is set meanwhile."""
        while True:
            try:
                return await asyncio.to_thread(work)
            except RETRIED as exc:
                self.metrics.retries.inc()
                log.warning("batch not recorded, retried in %gs: %s", self.retry_seconds, exc)
            if stop is not None and stop.is_set():
                return None
            await asyncio.sleep(self.retry_seconds)

    async def _observe_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_at < 1.0:  # one round trip a second is enough for a gauge
            return
        self._lag_at = now
        for source in self.streams.sources:
            try:
                lag = await self.broker.lag(source)
            except Exception as exc:  # a gauge must not stop the consumer
                log.debug("lag of %s unknown: %s", source, exc)
                continue
            if lag is not None:
                self.metrics.lag.labels(stream=source).set(lag)
