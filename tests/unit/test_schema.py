from __future__ import annotations

from datetime import UTC, datetime

import pytest

from frisk.errors import InvalidEventError
from frisk.schema import Label, LabelValue, Transaction, parse_label


def _event(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "transaction_id": "t1",
        "timestamp": datetime(2024, 1, 1, 12, tzinfo=UTC),
        "amount": 12.5,
        "currency": "eur",
        "payer_id": "p1",
        "payee_id": "m1",
    }
    base.update(changes)
    return base


def test_valid_transaction_normalises_codes() -> None:
    txn = Transaction.parse(_event(payer_country="de", channel="CARD"))
    assert txn.currency == "EUR"
    assert txn.payer_country == "DE"
    assert txn.channel == "card"


def test_a_zero_amount_is_a_payment() -> None:
    assert Transaction.parse(_event(amount=0)).amount == 0.0


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("amount", -3.0, "refund or reversal"),
        ("amount", float("inf"), "finite"),
        ("currency", "XYZ", "ISO 4217"),
        ("timestamp", datetime(2024, 1, 1), "timezone"),
        ("payer_id", "", "at least 1"),
        ("payee_country", "Germany", "ISO 3166"),
    ],
)
def test_invalid_field_is_named_with_its_value(field: str, value: object, needle: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        Transaction.parse(_event(**{field: value}))
    assert info.value.field == field
    assert needle in str(info.value)
    assert repr(value) in str(info.value) or field == "payer_id"


def test_missing_field_is_named() -> None:
    data = _event()
    del data["payee_id"]
    with pytest.raises(InvalidEventError, match="payee_id"):
        Transaction.parse(data)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidEventError, match="colour"):
        Transaction.parse(_event(colour="red"))


def test_extra_attributes_accept_numbers_and_strings_but_not_reserved_names() -> None:
    txn = Transaction.parse(_event(extra={"balance_before": 100.0, "type": "TRANSFER"}))
    assert txn.extra["type"] == "TRANSFER"
    with pytest.raises(InvalidEventError, match="extra"):
        Transaction.parse(_event(extra={"amount": 1.0}))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, LabelValue.FRAUD),
        ("0", LabelValue.LEGIT),
        ("Fraud", LabelValue.FRAUD),
        (False, LabelValue.LEGIT),
    ],
)
def test_label_spellings(raw: object, expected: LabelValue) -> None:
    assert parse_label(raw) is expected


def test_label_event_validates() -> None:
    label = Label.parse(
        {
            "transaction_id": "t1",
            "label": "1",
            "label_timestamp": "2024-02-01T00:00:00Z",
            "source": "chargeback",
        }
    )
    assert label.is_fraud
    with pytest.raises(InvalidEventError, match="label"):
        Label.parse(
            {"transaction_id": "t1", "label": "maybe", "label_timestamp": "2024-02-01T00:00:00Z"}
        )
