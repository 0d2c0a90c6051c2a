"""Every broker ``frisk consume`` reads passes one suite (Redis Streams, NATS JetStream).

Each test has its own stream names. The engine is the suite's counting double
(``AmountEngine``): a message decided twice would show in its call count, a decision
published twice in the output stream, one lost in the ledger. The subprocess and model tests
(SIGKILL mid-batch, two consumers in a group, GET /v1/decisions) are in
tests/integration/test_consume.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.streams_kit import Kit, kit_fixture

from frisk.config import ConsumerSettings
from frisk.data.mapping import Mapping
from frisk.engine.answer import decision_body
from frisk.engine.decider import Decider
from frisk.store import SqlLedger, default_url, open_ledger
from frisk.streams import Consumer, MessageMapping, Streams, open_broker
from frisk.streams.broker import Broker
from frisk.streams.messages import Delivery

pytestmark = pytest.mark.xdist_group("brokers")


@pytest.fixture(params=["redis", "nats"])
def kit(
    request: pytest.FixtureRequest, require_service: Callable[[str, str, int], None]
) -> Iterator[Kit]:
    yield from kit_fixture(request, require_service)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqlLedger]:
    opened = open_ledger(default_url(tmp_path))
    yield opened
    opened.close()


def streams_of(kit: Kit, labels: bool = False) -> Streams:
    return Streams(
        input=kit.name("payments"),
        output=kit.name("decisions"),
        dead_letters=kit.name("dead"),
        labels=kit.name("labels") if labels else None,
    )


def make_consumer(
    kit: Kit,
    ledger: SqlLedger,
    engine: Any,
    streams: Streams,
    *,
    name: str = "c1",
    broker: Broker | None = None,
    mapping: MessageMapping | None = None,
    batch: int = 16,
) -> Consumer:
    settings = ConsumerSettings(group="g", redeliver_seconds=1.0, wait_seconds=0.2)
    return Consumer(
        broker or open_broker(kit.url, settings, name),
        Decider(ledger, engine),
        streams,
        batch=batch,
        wait_seconds=0.2,
        retry_seconds=0.1,
        mapping=mapping,
    )


def consume(consumer: Consumer, done: Callable[[], bool], *, rounds: int = 300) -> None:
    """Step ``consumer`` until ``done()`` (at most ``rounds`` fetches: a hang fails the test)."""

    async def go() -> None:
        await consumer.broker.open(consumer.streams.sources, consumer.streams.targets)
        try:
            for _ in range(rounds):
                await consumer.step()
                if done():
                    return
            raise AssertionError("the consumer did not finish")
        finally:
            await consumer.broker.close()

    asyncio.run(go())


def bodies(txn_body: Callable[..., dict[str, Any]], n: int, start: int = 0) -> list[dict[str, Any]]:
    return [txn_body(f"t-{i}", amount=float(100 * (i % 97) + 1)) for i in range(start, start + n)]


def outputs(kit: Kit, streams: Streams) -> list[dict[str, Any]]:
    return [orjson.loads(m) for m in kit.read(streams.output, "decision")]


def dead(kit: Kit, streams: Streams) -> list[dict[str, Any]]:
    return [orjson.loads(m) for m in kit.read(streams.dead_letters, "dead_letter")]


def count(ledger: SqlLedger, ids: list[str]) -> int:
    return sum(ledger.has_decision(i) for i in ids)


def test_every_message_is_decided_once_and_published_once(
    kit: Kit, ledger: SqlLedger, amount_engine: Any, txn_body: Callable[..., dict[str, Any]]
) -> None:
    streams = streams_of(kit)
    sent = bodies(txn_body, 40)
    # A producer's retry: the same payment sent twice, one batch apart and in the same batch.
    kit.publish(streams.input, [*sent, sent[3], sent[3], sent[17]])
    ids = [b["transaction_id"] for b in sent]
    consumer = make_consumer(kit, ledger, amount_engine, streams)
    consume(consumer, lambda: len(outputs(kit, streams)) >= len(sent) and count(ledger, ids) == 40)
    assert amount_engine.calls == len(sent)  # feature state saw every payment once
    published = outputs(kit, streams)
    assert sorted(p["transaction_id"] for p in published) == sorted(ids)
    for message in published:
        record = ledger.get_decision(message["transaction_id"])
        assert record is not None
        assert message == orjson.loads(orjson.dumps(decision_body(record)))
    assert dead(kit, streams) == []


class DiesBeforeAck:
    """A broker whose member dies after publishing a batch's decisions, before acknowledging."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.died = False

    async def open(self, sources: Any, targets: Any) -> None:
        await self.inner.open(sources, targets)

    async def fetch(self, source: str, field: str, count: int, wait: float) -> list[Delivery]:
        return await self.inner.fetch(source, field, count, wait)

    async def publish(self, target: str, field: str, items: Any) -> None:
        await self.inner.publish(target, field, items)

    async def ack(self, source: str, deliveries: Any) -> None:
        self.died = True
        raise ConnectionError("killed before XACK / ack")

    async def lag(self, source: str) -> int | None:
        return await self.inner.lag(source)

    async def close(self) -> None:
        await self.inner.close()


def test_a_batch_redelivered_after_its_consumer_died_is_replayed_not_decided_again(
    kit: Kit, ledger: SqlLedger, amount_engine: Any, txn_body: Callable[..., dict[str, Any]]
) -> None:
    streams = streams_of(kit)
    sent = bodies(txn_body, 24)
    ids = [b["transaction_id"] for b in sent]
    kit.publish(streams.input, sent)
    settings = ConsumerSettings(group="g", redeliver_seconds=1.0)
    dying = DiesBeforeAck(open_broker(kit.url, settings, "dies"))
    first = make_consumer(kit, ledger, amount_engine, streams, broker=dying, batch=8)
    with pytest.raises(ConnectionError):
        consume(first, lambda: False)
    assert dying.died
    decided_before = count(ledger, ids)
    assert decided_before == 8  # recorded and published, never acknowledged
    assert len(outputs(kit, streams)) == 8
    time.sleep(1.2)  # past redeliver_seconds: the dead member's batch may be taken over
    second = make_consumer(kit, ledger, amount_engine, streams, name="c2", batch=8)
    consume(second, lambda: count(ledger, ids) == len(sent) and consumer_lag(second) == 0)
    assert count(ledger, ids) == len(sent)
    assert amount_engine.calls == len(sent)  # the 8 were replayed from the ledger
    replayed = second.metrics.messages.labels(stream=streams.input, outcome="replayed")
    assert replayed._value.get() == 8
    published = outputs(kit, streams)
    assert sorted(p["transaction_id"] for p in published) == sorted(ids)  # none twice


class ForgetsDedupe(DiesBeforeAck):
    """A deliberately broken broker: every publish gets a fresh dedupe key, as if the broker
    kept none. The redelivery test must catch it (its decisions appear twice)."""

    async def ack(self, source: str, deliveries: Any) -> None:
        await self.inner.ack(source, deliveries)

    async def publish(self, target: str, field: str, items: Any) -> None:
        fresh = [(f"{key}-{uuid.uuid4().hex}", body) for key, body in items]
        await self.inner.publish(target, field, fresh)


def test_the_suite_catches_a_broker_that_publishes_a_redelivered_decision_again(
    kit: Kit, ledger: SqlLedger, amount_engine: Any, txn_body: Callable[..., dict[str, Any]]
) -> None:
    streams = streams_of(kit)
    sent = bodies(txn_body, 16)
    ids = [b["transaction_id"] for b in sent]
    kit.publish(streams.input, sent)
    settings = ConsumerSettings(group="g", redeliver_seconds=1.0)
    dying = DiesBeforeAck(open_broker(kit.url, settings, "dies"))
    with pytest.raises(ConnectionError):
        consume(
            make_consumer(kit, ledger, amount_engine, streams, broker=dying, batch=8), lambda: False
        )
    time.sleep(1.2)  # past redeliver_seconds
    broken = ForgetsDedupe(open_broker(kit.url, settings, "c2"))
    second = make_consumer(kit, ledger, amount_engine, streams, broker=broken, batch=8)
    consume(second, lambda: count(ledger, ids) == len(sent) and consumer_lag(second) == 0)
    published = [p["transaction_id"] for p in outputs(kit, streams)]
    assert amount_engine.calls == len(sent)  # the ledger still kept the decisions once
    assert sorted(published) != sorted(ids)  # what the redelivery test asserts, failing here
    assert len(published) == len(sent) + 8


def consumer_lag(consumer: Consumer) -> int:
    value = consumer.metrics.lag.labels(stream=consumer.streams.input)._value.get()
    return int(value) if consumer._lag_at > -float("inf") else -1


def test_dead_letters_carry_the_reason_and_never_block_the_stream(
    kit: Kit, ledger: SqlLedger, amount_engine: Any, txn_body: Callable[..., dict[str, Any]]
) -> None:
    streams = streams_of(kit)
    good = bodies(txn_body, 5)
    bad: list[Any] = [
        b"{not json",
        b"[1, 2]",
        {k: v for k, v in txn_body("t-bad-1").items() if k != "amount"},
        txn_body("t-bad-2", amount=-5.0),
        txn_body("t-bad-3", currency="XXQ"),
        txn_body("t-bad-4", colour="blue"),
        txn_body("t-0", amount=999.0),  # an id already decided, with another body
    ]
    kit.publish(streams.input, [*good, *bad])
    consumer = make_consumer(kit, ledger, amount_engine, streams, batch=64)
    consume(consumer, lambda: len(dead(kit, streams)) >= len(bad))
    assert count(ledger, [b["transaction_id"] for b in good]) == 5
    letters = dead(kit, streams)
    assert len(letters) == len(bad)
    by_body = {letter["body"]: letter for letter in letters}
    assert by_body["{not json"]["field"] == "event"
    assert "not valid JSON" in by_body["{not json"]["reason"]
    assert by_body["[1, 2]"]["reason"] == "must be a JSON object"
    fields = [
        letter["field"]
        for letter in letters
        if letter["error"] == "invalid_input" and letter["field"] != "event"
    ]
    assert sorted(fields) == ["amount", "amount", "colour", "currency"]
    conflict = [letter for letter in letters if letter["error"] == "conflict"]
    assert len(conflict) == 1
    assert "t-0" in conflict[0]["message"]
    assert all(letter["stream"] == streams.input and letter["message_id"] for letter in letters)
    # Everything was acknowledged: a new member of the group finds nothing left.
    consume(consumer, lambda: consumer_lag(consumer) == 0)


def test_an_entry_without_the_event_field_is_a_dead_letter(
    kit: Kit, ledger: SqlLedger, amount_engine: Any
) -> None:
    if kit.kind != "redis":
        pytest.skip("a NATS message is its payload: it cannot lack the field")
    streams = streams_of(kit)
    kit.publish(streams.input, [b"ignored"], field="")
    consumer = make_consumer(kit, ledger, amount_engine, streams)
    consume(consumer, lambda: len(dead(kit, streams)) == 1)
    (letter,) = dead(kit, streams)
    assert (letter["field"], letter["reason"], letter["body"]) == (
        "event",
        "the message has no such field",
        None,
    )


class LearningEngine:
    """The amount double, learning labels as a ``LearnsLabels`` engine."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_version = inner.model_version
        self.labels: list[tuple[str, bool]] = []

    def ready(self) -> bool:
        return True

    def reload(self) -> None:
        pass

    def decide(self, txn: Any) -> Any:
        return self.inner.decide(txn)

    def apply_label(
        self,
        transaction_id: str,
        fraud: bool,
        label_timestamp: datetime,
        *,
        recorded_at: datetime | None = None,
    ) -> None:
        self.labels.append((transaction_id, fraud))


def test_labels_reach_the_ledger_and_the_label_features_once(
    kit: Kit, ledger: SqlLedger, amount_engine: Any, txn_body: Callable[..., dict[str, Any]]
) -> None:
    streams = streams_of(kit, labels=True)
    engine = LearningEngine(amount_engine)
    kit.publish(streams.input, bodies(txn_body, 3))
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    chargeback = {"transaction_id": "t-1", "label": "fraud", "label_timestamp": at}
    labels = [
        chargeback,
        chargeback,  # redelivered or sent twice: unchanged, not learnt again
        {"transaction_id": "t-2", "label": 0, "source": "chargeback"},
        {"transaction_id": "t-2", "label": "maybe"},
        {"transaction_id": "t-9", "label": "fraud"},  # no decision yet: stored, not learnt
    ]
    consumer = make_consumer(kit, ledger, engine, streams)
    consume(consumer, lambda: count(ledger, ["t-0", "t-1", "t-2"]) == 3)
    kit.publish(streams.labels or "", labels, field="label")
    consume(consumer, lambda: len(dead(kit, streams)) == 1 and ledger.get_label("t-9") is not None)
    assert engine.labels == [("t-1", True), ("t-2", False)]
    got = ledger.get_label("t-1")
    assert got is not None
    assert (got.label, got.source) == ("fraud", "stream")
    second = ledger.get_label("t-2")
    assert second is not None
    assert (second.label, second.source) == ("legit", "chargeback")
    (letter,) = dead(kit, streams)
    assert letter["field"] == "label"
    assert letter["stream"] == streams.labels


MAPPING = """
[columns]
transaction_id = "ref"
timestamp = "at"
payer_id = "card"
payee_id = "shop"
amount = "cents_value"
[defaults]
currency = "EUR"
[options]
timestamp_format = "unix_s"
"""


def test_a_mapping_reads_a_producers_own_message_shape(
    kit: Kit, ledger: SqlLedger, amount_engine: Any, tmp_path: Path
) -> None:
    path = tmp_path / "producer.toml"
    path.write_text(MAPPING, encoding="utf-8")
    mapping = MessageMapping(Mapping.load(path))
    streams = streams_of(kit)
    at = int(datetime(2024, 3, 1, 12, tzinfo=UTC).timestamp())
    sent = [
        {"ref": f"m-{i}", "at": at + i, "card": "c-1", "shop": "s-1", "cents_value": 10.5 * i}
        for i in range(1, 4)
    ]
    broken = {"ref": "m-bad", "at": "yesterday", "card": "c-1", "shop": "s-1", "cents_value": 1}
    kit.publish(streams.input, [*sent, broken])
    consumer = make_consumer(kit, ledger, amount_engine, streams, mapping=mapping)
    consume(
        consumer, lambda: count(ledger, ["m-1", "m-2", "m-3"]) == 3 and bool(dead(kit, streams))
    )
    record = ledger.get_decision("m-2")
    assert record is not None
    assert record.transaction["amount"] == 21.0
    assert record.transaction["currency"] == "EUR"
    assert record.event_time == datetime(2024, 3, 1, 12, 0, 2, tzinfo=UTC)
    (letter,) = dead(kit, streams)
    assert letter["field"] == "at"  # the producer's own field, as an import would name it
    assert orjson.loads(letter["body"])["ref"] == "m-bad"


def test_a_row_the_ledger_refuses_is_a_dead_letter_and_the_rest_are_decided(
    kit: Kit,
    ledger: SqlLedger,
    amount_engine: Any,
    txn_body: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ledger cannot hold one row of a batch (issue #20): only that row fails, as a dead
    letter; before, the whole batch was a store error, retried without end."""
    from frisk.errors import RecordRefusedError

    record_decisions = ledger.record_decisions

    def refusing(records: Any) -> Any:
        if any(r.transaction_id == "t-4" for r in records):
            raise RecordRefusedError("recording: the ledger cannot hold it")
        return record_decisions(records)

    monkeypatch.setattr(ledger, "record_decisions", refusing)
    streams = streams_of(kit)
    sent = bodies(txn_body, 10)
    kit.publish(streams.input, sent)
    consumer = make_consumer(kit, ledger, amount_engine, streams, batch=64)
    consume(consumer, lambda: len(dead(kit, streams)) >= 1 and len(outputs(kit, streams)) >= 9)
    (letter,) = dead(kit, streams)
    assert "t-4" in letter["body"]
    assert "cannot hold it" in letter["message"]
    ids = [b["transaction_id"] for b in sent]
    assert [ledger.has_decision(i) for i in ids] == [i != "t-4" for i in ids]
    consume(consumer, lambda: consumer_lag(consumer) == 0)
