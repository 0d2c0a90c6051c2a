"""What travels on the streams, read and written without a broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from frisk.config import ConsumerSettings
from frisk.data.mapping import Mapping
from frisk.errors import ConfigError, ConflictError, InvalidEventError
from frisk.schema import Transaction
from frisk.streams import ConsumerMetrics, Delivery, MessageMapping, open_broker
from frisk.streams.messages import dead_letter, read_label, read_payment

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def test_a_payment_message_is_read_as_the_api_reads_its_body() -> None:
    body = {
        "transaction_id": "t-1",
        "timestamp": "2026-12-06T11:00:00+01:00",
        "amount": 12.5,
        "currency": "eur",
        "payer_id": "p",
        "payee_id": "q",
    }
    txn = read_payment(orjson.dumps(body))
    assert txn == Transaction.parse(body)
    with pytest.raises(InvalidEventError) as caught:
        read_payment(orjson.dumps({**body, "amount": "12.5"}))
    assert caught.value.field == "amount"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "the message has no such field"),
        (b"\xff\xfe", "not valid JSON"),
        (b'"text"', "must be a JSON object"),
    ],
)
def test_a_message_that_is_no_json_object_names_the_field(data: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        read_payment(data)
    assert caught.value.field == "event"
    assert reason in caught.value.reason


def test_a_label_defaults_to_now_and_the_stream_source_and_refuses_the_future() -> None:
    got = read_label(b'{"transaction_id": "t-1", "label": 1}', NOW)
    assert (got.transaction_id, got.label, got.label_timestamp, got.source) == (
        "t-1",
        "fraud",
        NOW,
        "stream",
    )
    later = (NOW + timedelta(hours=1)).isoformat()
    with pytest.raises(InvalidEventError) as caught:
        read_label(
            orjson.dumps({"transaction_id": "t-1", "label": 0, "label_timestamp": later}), NOW
        )
    assert caught.value.field == "label_timestamp"


def test_a_dead_letter_says_why_and_carries_the_message() -> None:
    delivery = Delivery("7-0", b'{"amount": -1}')
    letter = orjson.loads(
        dead_letter("payments", delivery, InvalidEventError("amount", -1, "is negative"))
    )
    assert letter == {
        "error": "invalid_input",
        "message": "amount=-1: is negative",
        "field": "amount",
        "reason": "is negative",
        "stream": "payments",
        "message_id": "7-0",
        "body": '{"amount": -1}',
    }
    conflict = orjson.loads(dead_letter("payments", delivery, ConflictError("reused id")))
    assert (conflict["error"], "field" in conflict) == ("conflict", False)


def test_a_mapping_reads_each_message_even_when_fields_disagree_in_type() -> None:
    mapping = MessageMapping(
        Mapping.from_dict(
            {
                "columns": {
                    "transaction_id": "ref",
                    "timestamp": "at",
                    "payer_id": "card",
                    "payee_id": "shop",
                    "amount": "value",
                },
                "defaults": {"currency": "EUR"},
            }
        )
    )
    at = "2024-03-01T12:00:00+00:00"
    got = mapping.transactions(
        [
            {"ref": "a", "at": at, "card": "c", "shop": "s", "value": 10.5},
            {"ref": "b", "at": at, "card": 7, "shop": "s", "value": "12"},  # types differ
            {"ref": "c", "at": at, "card": "c", "shop": "s"},  # no amount
        ]
    )
    assert isinstance(got[0], Transaction)
    assert got[0].amount == 10.5
    assert isinstance(got[1], Transaction)
    assert (got[1].payer_id, got[1].amount) == ("7", 12.0)
    assert isinstance(got[2], InvalidEventError)
    assert got[2].field in ("value", "amount")


def test_the_rate_gauge_counts_messages_over_the_last_seconds() -> None:
    metrics = ConsumerMetrics()
    metrics.handled(50)
    metrics.handled(50)
    assert metrics.rate._value.get() == 100.0  # two batches within the first second


def test_an_unknown_broker_is_refused_with_the_two_that_exist() -> None:
    with pytest.raises(ConfigError, match="redis://HOST:PORT/DB"):
        open_broker("kafka://127.0.0.1:9092", ConsumerSettings(), "me")
