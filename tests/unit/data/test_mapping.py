"""Mapping files: what they accept, and what they refuse with the key named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from frisk.data.mapping import Mapping
from frisk.data.timestamps import TimestampFormat
from frisk.errors import DataFormatError, MappingError

EXAMPLES = Path(__file__).parents[3] / "examples" / "mappings"

FULL = """
[columns]
transaction_id = ["trans_num", "cc_num"]
timestamp = "event_time"
payer_id = "customer"
payee_id = "merchant"
amount = "amt"
label = "is_fraud"
[defaults]
currency = "eur"
channel = "Card"
payer_country = "fr"
[options]
timestamp_format = "%Y-%m-%d %H:%M:%S"
timezone = "Europe/Paris"
label_delay = "7d"
label_source = "chargeback"
extra = ["balance", "type"]
duplicates = "keep_first"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_mapping_loads(tmp_path: Path) -> None:
    mapping = Mapping.load(write(tmp_path, FULL))
    assert mapping.columns["transaction_id"] == ("trans_num", "cc_num")
    assert mapping.columns["amount"] == ("amt",)
    assert mapping.defaults == {"currency": "EUR", "channel": "card", "payer_country": "FR"}
    assert mapping.timestamp_format == TimestampFormat(kind="strftime", pattern="%Y-%m-%d %H:%M:%S")
    assert mapping.timezone == "Europe/Paris"
    assert mapping.label_delay == timedelta(days=7)
    assert mapping.label_source == "chargeback"
    assert mapping.extra == {"balance": "auto", "type": "auto"}
    assert mapping.duplicates == "keep_first"
    assert not mapping.derive_id


def test_defaults_of_an_empty_mapping() -> None:
    mapping = Mapping.from_dict({})
    assert mapping.timestamp_format.kind == "iso"
    assert mapping.timezone == "UTC"
    assert mapping.duplicates == "error"
    assert mapping.extra == {}
    assert Mapping().extra is None  # no mapping file: keep every column


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"colums": {}}, "colums: unknown section"),
        ({"columns": {"amout": "amt"}}, "columns.amout: unknown canonical column"),
        ({"columns": {"amount": ["a", "b"]}}, "columns.amount: only transaction_id"),
        ({"columns": {"amount": 3}}, "columns.amount: 3: expected a source column"),
        ({"columns": {"payer_id": ["a", "a"]}}, "columns.payer_id: names the same"),
        ({"defaults": {"currency": "EURO"}}, "defaults.currency: 'EURO' is not an ISO 4217"),
        ({"defaults": {"payee_country": "FRA"}}, "defaults.payee_country: 'FRA' is not"),
        ({"defaults": {"amount": "1"}}, "defaults.amount: cannot have a default"),
        ({"defaults": {"colour": "red"}}, "defaults.colour: unknown canonical column"),
        (
            {"columns": {"currency": "ccy"}, "defaults": {"currency": "EUR"}},
            "defaults.currency: is also mapped",
        ),
        ({"options": {"timezone": "Mars/Olympus"}}, "options.timezone: 'Mars/Olympus'"),
        ({"options": {"timestamp_format": "dd/mm/yyyy"}}, "options.timestamp_format: 'dd/mm"),
        ({"options": {"label_delay": "7 weeks"}}, "options.label_delay: '7 weeks'"),
        ({"options": {"duplicates": "report"}}, "options.duplicates: 'report': expected one"),
        ({"options": {"delay": "7d"}}, "options.delay: unknown option"),
        ({"options": {"extra": ["amount"]}}, "options.extra: 'amount' is a canonical column"),
        ({"options": {"extra": ["merch lat"]}}, "options.extra: 'merch lat' cannot name"),
        ({"options": {"extra": {"lat": "float"}}}, "options.extra: {'lat': 'float'}"),
        ({"options": {"transaction_id": "hash"}}, "options.transaction_id: 'hash'"),
        (
            {"columns": {"transaction_id": "ref"}, "options": {"transaction_id": "derive"}},
            "options.transaction_id: 'derive' while",
        ),
    ],
)
def test_bad_mappings_name_the_key(data: dict[str, Any], named: str) -> None:
    with pytest.raises(MappingError) as caught:
        Mapping.from_dict(data, origin="m.toml")
    assert str(caught.value).startswith("m.toml: ")
    assert named in str(caught.value)


def test_label_delay_units() -> None:
    for text, delay in [("30s", timedelta(seconds=30)), ("1.5h", timedelta(hours=1.5))]:
        assert Mapping.from_dict({"options": {"label_delay": text}}).label_delay == delay
    assert Mapping.from_dict({"options": {"label_delay": "0s"}}).label_delay == timedelta(0)


def test_extra_types_can_be_pinned() -> None:
    mapping = Mapping.from_dict({"options": {"extra": {"zip": "string", "lat": "number"}}})
    assert mapping.extra == {"zip": "string", "lat": "number"}


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no such file"):
        Mapping.load(tmp_path / "absent.toml")
    with pytest.raises(MappingError, match="not valid TOML"):
        Mapping.load(write(tmp_path, "[columns\n"))


SOURCE = ["ref", "when", "who", "whom", "amt", "ccy", "fraud", "x"]
BASIC = {
    "columns": {
        "transaction_id": "ref",
        "timestamp": "when",
        "payer_id": "who",
        "payee_id": "whom",
        "amount": "amt",
        "currency": "ccy",
    }
}


def test_bind_resolves_sources_and_lists_unused_columns() -> None:
    bound = Mapping.from_dict(BASIC).bind(SOURCE)
    assert bound.columns["amount"] == ("amt",)
    assert bound.extra == {}
    assert bound.unused == ("fraud", "x")
    assert bound.needed == ["ref", "when", "who", "whom", "amt", "ccy"]


def test_a_missing_source_column_lists_the_files_columns() -> None:
    data = {"columns": {**BASIC["columns"], "amount": "amount_eur"}}
    with pytest.raises(MappingError) as caught:
        Mapping.from_dict(data, origin="m.toml").bind(SOURCE)
    message = str(caught.value)
    assert "columns.amount: source column 'amount_eur' is not in the file" in message
    assert "'ref', 'when', 'who', 'whom', 'amt', 'ccy', 'fraud', 'x'" in message


def test_a_missing_extra_column_is_named() -> None:
    data = {**BASIC, "options": {"extra": ["balance"]}}
    with pytest.raises(MappingError, match=r"options\.extra: source column 'balance'"):
        Mapping.from_dict(data).bind(SOURCE)


def test_required_columns_must_come_from_somewhere() -> None:
    data = {"columns": {k: v for k, v in BASIC["columns"].items() if k != "currency"}}
    with pytest.raises(MappingError, match="currency is not mapped and the file has no"):
        Mapping.from_dict(data).bind(SOURCE)
    data = {"columns": {k: v for k, v in BASIC["columns"].items() if k != "transaction_id"}}
    with pytest.raises(MappingError, match=r"no transaction_id.*'derive'"):
        Mapping.from_dict(data).bind(SOURCE)


def test_a_label_needs_to_say_when_it_became_known() -> None:
    data = {"columns": {**BASIC["columns"], "label": "fraud"}}
    with pytest.raises(MappingError, match="label_delay"):
        Mapping.from_dict(data).bind(SOURCE)
    data["options"] = {"label_delay": "0s"}
    assert Mapping.from_dict(data).bind(SOURCE).columns["label"] == ("fraud",)


def test_canonical_names_in_the_source_are_taken_as_they_are() -> None:
    data = {"columns": {"transaction_id": "ref"}, "defaults": {"currency": "EUR"}}
    source = ["ref", "timestamp", "amount", "payer_id", "payee_id", "currency", "channel"]
    bound = Mapping.from_dict(data).bind(source)
    assert bound.columns["amount"] == ("amount",)
    assert "currency" not in bound.columns  # the default wins over the file's column
    assert bound.unused == ("currency",)


def test_without_a_mapping_other_columns_become_extras() -> None:
    source = ["transaction_id", "timestamp", "amount", "currency", "payer_id", "payee_id"]
    bound = Mapping().bind([*source, "balance", "_private"])
    assert bound.extra == {"balance": "auto"}
    assert bound.unused == ("_private",)
    with pytest.raises(DataFormatError, match="'merch lat'"):
        Mapping().bind([*source, "merch lat"])
    with pytest.raises(MappingError, match=r"not canonical.*'amount'"):
        Mapping().bind([c for c in source if c != "amount"])


@pytest.mark.parametrize("name", ["sparkov.toml", "paysim.toml"])
def test_example_mappings_load(name: str) -> None:
    mapping = Mapping.load(EXAMPLES / name)
    assert mapping.label_delay is not None
