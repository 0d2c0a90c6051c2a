"""Importing event files through mappings: formats, checks, duplicates, ids and the report."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from frisk.data.importer import _is_canonical_parquet, load_events, read_events
from frisk.data.mapping import Mapping
from frisk.data.table import EVENT_DTYPES, write_table
from frisk.errors import DataFormatError, InvalidRowsError, MappingError, RowProblem
from frisk.schema import NEGATIVE_AMOUNT

HEADER = "txn_ref,event_time,customer,merchant,amt,is_fraud,balance,kind"
ROWS = [
    "t1,2024-01-01 10:00:00,alice,shop,12.50,0,100.5,a",
    "t2,2024-01-01 09:00:00,bob,shop,3,fraud,7,b",
    "t3,2024-01-01 09:00:00,carol,cafe,8.25,,,c",
]
COLUMNS = {
    "transaction_id": "txn_ref",
    "timestamp": "event_time",
    "payer_id": "customer",
    "payee_id": "merchant",
    "amount": "amt",
    "label": "is_fraud",
}
OPTIONS = {
    "timestamp_format": "%Y-%m-%d %H:%M:%S",
    "label_delay": "7d",
    "label_source": "chargeback",
    "extra": ["balance", "kind"],
}


def mapping(**changes: Any) -> Mapping:
    data: dict[str, Any] = {
        "columns": dict(COLUMNS),
        "defaults": {"currency": "EUR", "channel": "card"},
        "options": dict(OPTIONS),
    }
    for section, values in changes.items():
        data[section] = {**data.get(section, {}), **values}
    return Mapping.from_dict(data)


def csv(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_csv_import_maps_types_orders_and_reports(tmp_path: Path) -> None:
    result = read_events(csv(tmp_path, ROWS), mapping())
    table = result.table
    assert {k: table.schema[k] for k in EVENT_DTYPES if k in table.schema} == {
        k: v for k, v in EVENT_DTYPES.items() if k != "scenario"
    }
    # Time-ordered; the tie at 09:00 keeps file order (t2 before t3).
    assert table["transaction_id"].to_list() == ["t2", "t3", "t1"]
    assert table["amount"].to_list() == [3.0, 8.25, 12.5]
    assert table["currency"].unique().to_list() == ["EUR"]
    assert table["channel"].unique().to_list() == ["card"]
    assert table["label"].to_list() == [1, None, 0]
    assert table["label_timestamp"].to_list() == [
        utc(2024, 1, 8, 9),
        None,
        utc(2024, 1, 8, 10),
    ]
    assert table["label_source"].to_list() == ["chargeback", None, "chargeback"]
    assert table.schema["balance"] == pl.Float64
    assert table.schema["kind"] == pl.String
    assert table["balance"].to_list() == [7.0, None, 100.5]
    report = result.report
    assert (report.rows_read, report.rows_kept, report.invalid_rows) == (3, 3, 0)
    assert report.format == "csv"
    assert report.unused_columns == ()


def test_columns_neither_mapped_nor_extra_are_dropped_and_reported(tmp_path: Path) -> None:
    result = read_events(csv(tmp_path, ROWS), mapping(options={"extra": []}))
    assert "balance" not in result.table.columns
    assert result.report.unused_columns == ("balance", "kind")


def test_csv_parquet_and_jsonl_give_the_same_table(tmp_path: Path) -> None:
    from_csv = read_events(csv(tmp_path, ROWS), mapping()).table
    source = pl.read_csv(csv(tmp_path, ROWS), infer_schema=False)
    source.write_parquet(tmp_path / "events.parquet")
    source.write_ndjson(tmp_path / "events.jsonl")
    with gzip.open(tmp_path / "events.csv.gz", "wt", encoding="utf-8") as gz:
        gz.write((tmp_path / "events.csv").read_text(encoding="utf-8"))
    for name in ("events.parquet", "events.jsonl", "events.csv.gz"):
        other = read_events(tmp_path / name, mapping()).table
        assert other.equals(from_csv), name


def test_typed_parquet_sources_are_read(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "txn_ref": ["a", "b"],
            "event_time": [datetime(2024, 1, 1, 12), datetime(2024, 1, 1, 13)],
            "customer": [1, 2],
            "merchant": ["m", "m"],
            "amt": [1.5, 2.0],
            "is_fraud": [True, False],
        }
    )
    path = tmp_path / "typed.pq"
    frame.write_parquet(path)
    table = read_events(path, mapping(options={"extra": [], "timezone": "Europe/Paris"})).table
    assert table["timestamp"].to_list() == [utc(2024, 1, 1, 11), utc(2024, 1, 1, 12)]
    assert table["payer_id"].to_list() == ["1", "2"]
    assert table["label"].to_list() == [1, 0]


def test_invalid_rows_name_row_column_and_reason(tmp_path: Path) -> None:
    rows = [
        "t1,2024-01-01 10:00:00,alice,shop,12.50,0,1,a",
        "t2,2024-01-01 25:00:00,bob,shop,-3,maybe,x,b",
        "t3,2024-01-01 09:00:00,,cafe,abc,1,2,c",
        "t4,2024-01-01 09:00:00,dan,cafe,inf,1,2,c",
    ]
    with pytest.raises(InvalidRowsError) as caught:
        read_events(csv(tmp_path, rows), mapping(options={"extra": {"balance": "number"}}))
    error = caught.value
    assert error.total == 3
    assert error.problems == [
        RowProblem(2, "event_time", "'2024-01-01 25:00:00' does not match %Y-%m-%d %H:%M:%S"),
        RowProblem(2, "amt", f"'-3' {NEGATIVE_AMOUNT}"),
        RowProblem(2, "is_fraud", "'maybe' is not a label (fraud/legit, 1/0, true/false)"),
        RowProblem(2, "balance", "'x' is not a number"),
        RowProblem(3, "customer", "missing"),
        RowProblem(3, "amt", "'abc' is not a number"),
        RowProblem(4, "amt", "'inf' is not a finite number"),
    ]
    assert "3 invalid row(s)" in str(error)
    assert "row 2, column 'event_time'" in str(error)


def test_skip_invalid_drops_and_counts(tmp_path: Path) -> None:
    rows = [*ROWS, "t4,2024-01-01 09:00:00,dan,cafe,-1,0,1,d", "t5,never,eve,cafe,1,0,1,e"]
    result = read_events(csv(tmp_path, rows), mapping(), skip_invalid=True)
    assert result.table["transaction_id"].sort().to_list() == ["t1", "t2", "t3"]
    assert (result.report.rows_read, result.report.rows_kept) == (5, 3)
    assert result.report.invalid_rows == 2
    assert [p.row for p in result.report.problems] == [4, 5]


def test_currency_and_country_columns_are_checked_and_upper_cased(tmp_path: Path) -> None:
    header = HEADER + ",ccy,country"
    rows = [ROWS[0] + ",eur,fr", ROWS[1] + ",XXX,FRA"]
    columns = {"currency": "ccy", "payer_country": "country"}
    with pytest.raises(InvalidRowsError) as caught:
        read_events(csv(tmp_path, rows, header), _without_currency_default(columns))
    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "ccy"), (2, "country")]
    table = read_events(csv(tmp_path, rows[:1], header), _without_currency_default(columns)).table
    assert table.select("currency", "payer_country").row(0) == ("EUR", "FR")


def _without_currency_default(columns: dict[str, str]) -> Mapping:
    return Mapping.from_dict(
        {"columns": {**COLUMNS, **columns}, "options": {**OPTIONS, "extra": []}}
    )


@pytest.mark.parametrize(
    ("spelling", "label"),
    [("FRAUD", 1), ("legit", 0), ("1", 1), ("0", 0), ("True", 1), ("no", 0), ("genuine", 0)],
)
def test_labels_read_like_parse_label(tmp_path: Path, spelling: str, label: int) -> None:
    row = f"t1,2024-01-01 10:00:00,alice,shop,1,{spelling},1,a"
    assert read_events(csv(tmp_path, [row]), mapping()).table["label"].to_list() == [label]


def test_label_timestamp_column_and_its_checks(tmp_path: Path) -> None:
    header = HEADER + ",reported"
    rows = [
        ROWS[0] + ",2024-01-03 00:00:00",
        ROWS[1] + ",",  # no date: the delay applies
        ROWS[2] + ",2024-01-02 00:00:00",  # a date but no label
        "t4,2024-01-02 00:00:00,dan,cafe,1,1,1,d,2024-01-01 00:00:00",  # before the payment
    ]
    labelled = mapping(columns={"label_timestamp": "reported"})
    with pytest.raises(InvalidRowsError) as caught:
        read_events(csv(tmp_path, rows, header), labelled)
    assert [(p.row, p.reason) for p in caught.value.problems] == [
        (3, "label_timestamp given but the label is missing"),
        (4, "label_timestamp is before the transaction's timestamp"),
    ]
    table = read_events(csv(tmp_path, rows[:2], header), labelled).table
    assert table["label_timestamp"].to_list() == [utc(2024, 1, 8, 9), utc(2024, 1, 3)]


def test_duplicate_ids_are_refused_with_examples_and_advice(tmp_path: Path) -> None:
    rows = [*ROWS, "t1,2024-01-02 10:00:00,dan,shop,5,0,1,d"]
    with pytest.raises(MappingError) as caught:
        read_events(csv(tmp_path, rows), mapping())
    message = str(caught.value)
    assert "1 transaction id(s) from 'txn_ref' occur more than once" in message
    assert "'t1' (rows 1, 4)" in message
    assert "several columns" in message
    assert "keep_first" in message


def test_duplicate_policies(tmp_path: Path) -> None:
    rows = [*ROWS, "t1,2024-01-02 10:00:00,dan,shop,5,0,1,d"]
    first = read_events(csv(tmp_path, rows), mapping(options={"duplicates": "keep_first"}))
    assert first.table.filter(pl.col("transaction_id") == "t1")["payer_id"].to_list() == ["alice"]
    assert (first.report.duplicate_ids, first.report.duplicate_rows_dropped) == (1, 1)
    assert first.report.rows_kept == 3
    dropped = read_events(csv(tmp_path, rows), mapping(options={"duplicates": "drop_all"}))
    assert sorted(dropped.table["transaction_id"]) == ["t2", "t3"]
    assert dropped.report.duplicate_rows_dropped == 2
    assert dropped.report.duplicate_examples == ("'t1' (rows 1, 4)",)


def test_composite_ids(tmp_path: Path) -> None:
    rows = [*ROWS, "t1,2024-01-02 10:00:00,dan,shop,5,0,1,d"]
    composite = mapping(columns={"transaction_id": ["txn_ref", "customer"]})
    table = read_events(csv(tmp_path, rows), composite).table
    assert sorted(table["transaction_id"]) == ["t1:alice", "t1:dan", "t2:bob", "t3:carol"]


def test_derived_ids_are_stable_and_keep_exact_repeats_apart(tmp_path: Path) -> None:
    rows = [r.split(",", 1)[1] for r in [*ROWS, ROWS[0]]]  # no id column; row 4 repeats row 1
    header = HEADER.split(",", 1)[1]
    columns = {k: v for k, v in COLUMNS.items() if k != "transaction_id"}
    derived = Mapping.from_dict(
        {
            "columns": columns,
            "defaults": {"currency": "EUR"},
            "options": {**OPTIONS, "transaction_id": "derive"},
        }
    )
    path = csv(tmp_path, rows, header)
    first = read_events(path, derived)
    again = read_events(path, derived)
    ids = first.table["transaction_id"].to_list()
    assert ids == again.table["transaction_id"].to_list()
    assert len(set(ids)) == 4
    assert first.report.derived_ids
    repeat = [i for i in ids if i.endswith(":2")]
    assert len(repeat) == 1
    assert repeat[0].removesuffix(":2") in ids
    # The id depends on the row's content, not on its position: a row added in front changes
    # no other id.
    shifted = csv(tmp_path, ["2024-01-05 00:00:00,zed,shop,1,0,1,z", *rows], header, "b.csv")
    assert set(ids) < set(read_events(shifted, derived).table["transaction_id"])


def test_a_missing_source_column_lists_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as caught:
        read_events(csv(tmp_path, ROWS), mapping(columns={"amount": "amount_eur"}))
    assert "source column 'amount_eur' is not in the file" in str(caught.value)
    assert "'txn_ref', 'event_time'" in str(caught.value)


def test_a_canonical_file_needs_no_mapping_and_keeps_unknown_columns(tmp_path: Path) -> None:
    header = "transaction_id,timestamp,amount,currency,payer_id,payee_id,label,balance"
    rows = ["a,2024-01-01T10:00:00Z,5,usd,p,q,legit,3", "b,2024-01-01T10:59:00+01:00,6,USD,p,q,,x"]
    table = read_events(csv(tmp_path, rows, header)).table
    assert table["transaction_id"].to_list() == ["b", "a"]
    assert table["currency"].to_list() == ["USD", "USD"]
    assert table["balance"].to_list() == ["x", "3"]  # not all numbers: kept as text
    assert table["label_timestamp"].to_list() == [None, None]  # no label events without a time


def test_a_file_that_is_not_canonical_needs_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"not canonical.*--mapping"):
        read_events(csv(tmp_path, ROWS))


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty file"), (HEADER + "\n", "no data rows"), ("\x00\x01garbage", "not a readable")],
)
def test_files_that_cannot_be_imported(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / ("events.parquet" if "garbage" in content else "events.csv")
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        read_events(path, mapping())


def test_unknown_extensions_and_absent_files(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="unknown file type"):
        read_events(tmp_path / "events.xlsx", mapping())
    with pytest.raises(DataFormatError, match="no such file"):
        read_events(tmp_path / "events.csv", mapping())


def test_load_events_reads_canonical_parquet_directly(tmp_path: Path) -> None:
    table = read_events(csv(tmp_path, ROWS), mapping()).table
    write_table(table, tmp_path / "canonical.parquet")
    assert _is_canonical_parquet(tmp_path / "canonical.parquet")  # the fast path
    assert load_events(tmp_path / "canonical.parquet", None, False).equals(table)
    mapping_file = tmp_path / "m.toml"
    mapping_file.write_text(
        "[columns]\n"
        + "".join(f'{k} = "{v}"\n' for k, v in COLUMNS.items())
        + '[defaults]\ncurrency = "EUR"\nchannel = "card"\n'
        + '[options]\ntimestamp_format = "%Y-%m-%d %H:%M:%S"\nlabel_delay = "7d"\n'
        + 'label_source = "chargeback"\nextra = ["balance", "kind"]\n',
        encoding="utf-8",
    )
    assert load_events(tmp_path / "events.csv", mapping_file, False).equals(table)


def test_label_delay_in_hours(tmp_path: Path) -> None:
    table = read_events(csv(tmp_path, ROWS[:1]), mapping(options={"label_delay": "36h"})).table
    assert table["label_timestamp"][0] - table["timestamp"][0] == timedelta(hours=36)


def test_many_invalid_rows_are_all_counted_and_the_first_shown(tmp_path: Path) -> None:
    rows = [f"t{i},2024-01-01 10:00:00,p{i},shop,-{i + 1},0,1,a" for i in range(30)]
    with pytest.raises(InvalidRowsError) as caught:
        read_events(csv(tmp_path, rows), mapping())
    assert caught.value.total == 30
    assert [p.row for p in caught.value.problems] == list(range(1, 21))
    assert "(and 25 more)" in str(caught.value)


def test_data_without_ids_or_dates_imports_and_featurizes(tmp_path: Path) -> None:
    """The European card data set's layout: seconds since the first payment, anonymised
    attributes, an amount and a class; no transaction, payer or payee ids."""
    from frisk.features import compute_offline, resolve_catalogue

    path = csv(
        tmp_path,
        [
            "0,-1.36,0.07,149.62,0",
            "0,1.19,0.26,2.69,0",
            "406,-2.31,1.95,0.01,1",
            "472,1.1,0.2,529,1",
        ],
        header="Time,V1,V2,Amount,Class",
    )
    anonymous = Mapping.from_dict(
        {
            "columns": {"timestamp": "Time", "amount": "Amount", "label": "Class"},
            "defaults": {"currency": "EUR", "payer_id": "Card", "payee_id": "merchant"},
            "options": {
                "timestamp_format": "seconds_since:2013-09-01",
                "transaction_id": "derive",
                "label_delay": "1d",
                "extra": {"V1": "number", "V2": "number"},
            },
        }
    )
    table = read_events(path, anonymous).table
    assert table.height == 4
    assert table.get_column("payer_id").to_list() == ["Card"] * 4  # ids keep their case
    assert table.get_column("timestamp").to_list()[2] == utc(2013, 9, 1, 0, 6, 46)
    assert table.get_column("transaction_id").n_unique() == 4
    features = compute_offline(table, resolve_catalogue("default", table))
    assert features.get_column("txn_count_by_payer_1h").to_list() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_csv_separators_are_read_from_the_header(tmp_path: Path, separator: str) -> None:
    rows = [row.replace(",", separator) for row in ROWS]
    path = csv(tmp_path, rows, header=HEADER.replace(",", separator))
    assert read_events(path, mapping()).table.equals(
        read_events(csv(tmp_path, ROWS), mapping()).table
    )


def test_a_quoted_comma_in_the_header_does_not_make_it_the_separator(tmp_path: Path) -> None:
    header = 'txn_ref;event_time;customer;merchant;"amt, EUR";is_fraud;balance;kind'
    rows = [row.replace(",", ";") for row in ROWS]
    path = csv(tmp_path, rows, header=header)
    table = read_events(path, mapping(columns={"amount": "amt, EUR"})).table
    assert table.get_column("amount").to_list() == [3.0, 8.25, 12.5]


def test_decimal_commas_when_the_mapping_says_so(tmp_path: Path) -> None:
    header = "txn_ref;event_time;customer;merchant;amt;is_fraud;balance;kind"
    rows = [
        "t1;2024-01-01 10:00:00;alice;shop;1.234,50;0;100,5;a",
        "t2;2024-01-01 09:00:00;bob;shop;3;fraud;-7;b",
        "t3;2024-01-01 09:00:00;carol;cafe;12.5;;;c",  # a dot where thousands go: refused
    ]
    path = csv(tmp_path, rows, header=header)
    commas = mapping(
        options={"decimal_comma": True, "extra": {"balance": "number"}},
        derive={"balance_per_amount": {"ratio": ["balance", "amount"]}},
    )
    with pytest.raises(InvalidRowsError) as caught:
        read_events(path, commas)
    assert [(p.row, p.column) for p in caught.value.problems] == [(3, "amt")]
    table = read_events(path, commas, skip_invalid=True).table
    assert sorted(zip(table["amount"], table["balance"], strict=True)) == [
        (3.0, -7.0),
        (1234.5, 100.5),
    ]
    assert sorted(table["balance_per_amount"].to_list()) == [-7.0 / 3.0, 100.5 / 1234.5]
    with pytest.raises(MappingError, match=r"options\.decimal_comma: 'yes'"):
        mapping(options={"decimal_comma": "yes"})


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_gzipped_csvs_are_sniffed_after_decompressing(tmp_path: Path, separator: str) -> None:
    from frisk.data.importer import csv_separator

    # Many contents, since compressed bytes hold separator characters by chance.
    for i in range(40):
        path = tmp_path / f"events{i}.csv.gz"
        with gzip.open(path, "wt", encoding="utf-8") as gz:
            gz.write(HEADER.replace(",", separator) + "\n")
            gz.write("\n".join(f"t{i}_{j}{separator}{j * 7919 % 1000}" for j in range(50)))
        assert csv_separator(path) == separator, path.name
