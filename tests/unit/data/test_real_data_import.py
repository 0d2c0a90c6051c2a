"""Files as real data sets write them: zero and negative amounts, labels written by pandas
(1.0/0.0, empty, NaN), non-ISO date columns with their own formats, and seconds_between."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from frisk.data.importer import read_events
from frisk.data.mapping import Mapping
from frisk.errors import InvalidRowsError, MappingError, RowProblem
from frisk.schema import NEGATIVE_AMOUNT, LabelValue, Transaction, parse_label

HEADER = "ref,time,card,shop,amt,signup,is_fraud"


def mapping(**changes: Any) -> Mapping:
    data: dict[str, Any] = {
        "columns": {
            "transaction_id": "ref",
            "timestamp": "time",
            "payer_id": "card",
            "payee_id": "shop",
            "amount": "amt",
            "label": "is_fraud",
        },
        "defaults": {"currency": "USD"},
        "options": {"timestamp_format": "%m/%d/%y %H:%M", "label_delay": "3d"},
    }
    for section, values in changes.items():
        data[section] = {**data.get(section, {}), **values}
    return Mapping.from_dict(data)


def events(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "events.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_zero_amounts_are_payments(tmp_path: Path) -> None:
    rows = [
        "t1,01/05/24 10:00,c1,s1,0,,0",
        "t2,01/05/24 10:01,c1,s1,0.00,,1",
        "t3,01/05/24 10:02,c1,s1,12.5,,0",
    ]
    table = read_events(events(tmp_path, rows), mapping()).table
    assert table["amount"].to_list() == [0.0, 0.0, 12.5]
    assert Transaction.parse(
        {
            "transaction_id": "t",
            "timestamp": "2024-01-05T10:00:00Z",
            "amount": 0,
            "currency": "USD",
            "payer_id": "c",
            "payee_id": "s",
        }
    ).amount == pytest.approx(0.0)


def test_negative_amounts_are_refused_naming_row_column_and_why(tmp_path: Path) -> None:
    rows = ["t1,01/05/24 10:00,c1,s1,5,,0", "t2,01/05/24 10:01,c1,s1,-5,,0"]
    with pytest.raises(InvalidRowsError) as caught:
        read_events(events(tmp_path, rows), mapping())
    assert caught.value.problems == [RowProblem(2, "amt", f"'-5' {NEGATIVE_AMOUNT}")]
    assert "refund or reversal" in NEGATIVE_AMOUNT
    # Skipped on request, and counted: nothing is dropped silently.
    result = read_events(events(tmp_path, rows), mapping(), skip_invalid=True)
    assert (result.report.rows_read, result.report.rows_kept, result.report.invalid_rows) == (
        2,
        1,
        1,
    )


@pytest.mark.parametrize(
    ("written", "value"),
    [("1.0", LabelValue.FRAUD), ("0.0", LabelValue.LEGIT), ("1.", LabelValue.FRAUD)],
)
def test_float_written_labels_parse(written: str, value: LabelValue) -> None:
    assert parse_label(written) is value
    assert parse_label(float(written)) is value


@pytest.mark.parametrize("written", ["2.0", "-1", "0.5", "1e0x"])
def test_other_numbers_are_not_labels(written: str) -> None:
    with pytest.raises(ValueError, match="is not a label"):
        parse_label(written)


def test_pandas_written_labels_and_empty_cells(tmp_path: Path) -> None:
    rows = [
        "t1,01/05/24 10:00,c1,s1,5,,1.0",
        "t2,01/05/24 10:01,c1,s1,5,,0.0",
        "t3,01/05/24 10:02,c1,s1,5,,",  # no label yet
    ]
    table = read_events(events(tmp_path, rows), mapping()).table
    assert table["label"].to_list() == [1, 0, None]
    assert table["label_timestamp"].null_count() == 1


def test_nan_labels_in_a_float_column_mean_no_label_yet(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {
            "ref": ["t1", "t2"],
            "time": ["01/05/24 10:00", "01/05/24 10:01"],
            "card": ["c1", "c1"],
            "shop": ["s1", "s1"],
            "amt": [5.0, 6.0],
            "is_fraud": [1.0, float("nan")],
        }
    ).write_parquet(path)
    table = read_events(path, mapping()).table
    assert table["label"].to_list() == [1, None]


def test_a_date_column_with_its_own_format_and_seconds_between(tmp_path: Path) -> None:
    rows = [
        "t1,01/05/24 10:00,c1,s1,5,01/05/24 09:58,0",
        "t2,01/05/24 10:01,c2,s1,5,12/31/23 10:01,0",
        "t3,01/05/24 10:02,c3,s1,5,,0",
    ]
    m = mapping(
        columns={"formats": {"signup": "%m/%d/%y %H:%M"}},
        derive={
            "signup_age_s": {"seconds_between": ["signup", "timestamp"]},
            "signup_age_y": {"years_between": ["signup", "timestamp"]},
        },
    )
    table = read_events(events(tmp_path, rows), m).table
    assert table["signup_age_s"].to_list() == [120.0, 5 * 86_400.0, None]
    assert table["signup_age_y"][1] == pytest.approx(5 / 365.25)


def test_a_bad_date_in_a_formatted_column_is_named(tmp_path: Path) -> None:
    rows = ["t1,01/05/24 10:00,c1,s1,5,2024-01-01,0"]
    m = mapping(
        columns={"formats": {"signup": "%m/%d/%y %H:%M"}},
        derive={"signup_age_s": {"seconds_between": ["signup", "timestamp"]}},
    )
    with pytest.raises(InvalidRowsError) as caught:
        read_events(events(tmp_path, rows), m)
    (problem,) = caught.value.problems
    assert (problem.row, problem.column) == (1, "signup")
    assert "'2024-01-01' does not match %m/%d/%y %H:%M" in problem.reason


def test_label_timestamps_can_have_their_own_format(tmp_path: Path) -> None:
    header = "ref,time,card,shop,amt,signup,is_fraud,reported"
    rows = ["t1,01/05/24 10:00,c1,s1,5,,1,2024-01-09"]
    m = mapping(columns={"label_timestamp": "reported", "formats": {"reported": "%Y-%m-%d"}})
    table = read_events(events(tmp_path, rows, header), m).table
    assert str(table["label_timestamp"][0]) == "2024-01-09 00:00:00+00:00"


@pytest.mark.parametrize(
    ("formats", "message"),
    [
        ({"signup": 3}, "columns.formats.signup: 3: expected a format string"),
        ({"signup": "seconds_since:never"}, "columns.formats.signup"),
        ("x", "columns.formats: 'x': expected a table"),
    ],
)
def test_bad_formats_name_the_key(formats: Any, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        mapping(columns={"formats": formats})


def test_a_format_for_a_column_the_file_lacks_is_named(tmp_path: Path) -> None:
    rows = ["t1,01/05/24 10:00,c1,s1,5,,0"]
    with pytest.raises(MappingError, match=r"columns\.formats: source column 'dob' is not in"):
        read_events(events(tmp_path, rows), mapping(columns={"formats": {"dob": "%Y"}}))
