"""Derived attributes of a mapping's [derive] table: checks, values, bad inputs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from frisk.data.importer import read_events
from frisk.data.mapping import Mapping
from frisk.errors import InvalidRowsError, MappingError

HEADER = "ref,time,card,shop,amt,dob,lat,lon,mlat,mlon,old,new,is_fraud"
ROWS = [
    "t1,2024-01-01 10:00:00,c1,s1,10,1990-01-01,40.0,-74.0,40.0,-74.0,100,90,0",
    "t2,2024-01-02 10:00:00,c2,s1,25,1964-07-01,0.0,0.0,0.0,1.0,50,50,1",
    "t3,2024-01-03 10:00:00,c3,s2,5,,51.5,-0.1,48.85,2.35,0,,0",
]


def mapping(derive: dict[str, Any], extra: list[str] | None = None) -> Mapping:
    return Mapping.from_dict(
        {
            "columns": {
                "transaction_id": "ref",
                "timestamp": "time",
                "payer_id": "card",
                "payee_id": "shop",
                "amount": "amt",
                "label": "is_fraud",
            },
            "defaults": {"currency": "USD"},
            "options": {
                "timestamp_format": "%Y-%m-%d %H:%M:%S",
                "label_delay": "1d",
                "extra": extra or [],
            },
            "derive": derive,
        }
    )


def events(tmp_path: Path, rows: list[str] = ROWS) -> Path:
    path = tmp_path / "events.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_every_operation_computes_a_float_attribute(tmp_path: Path) -> None:
    derive = {
        "age_years": {"years_between": ["dob", "timestamp"]},
        "distance_km": {"haversine": ["lat", "lon", "mlat", "mlon"]},
        "drop": {"difference": ["old", "new"]},
        "total": {"sum": ["old", "new", "amount"]},
        "share": {"ratio": ["amount", "old"]},
        "error": {"linear": {"amount": 1, "old": -1, "new": 1}},
    }
    result = read_events(events(tmp_path), mapping(derive))
    table = result.table
    assert all(table.schema[name] == pl.Float64 for name in derive)
    rows = {r["transaction_id"]: r for r in table.iter_rows(named=True)}
    assert rows["t1"]["age_years"] == pytest.approx(34.0, abs=0.01)
    assert rows["t2"]["age_years"] == pytest.approx(59.5, abs=0.01)
    assert rows["t3"]["age_years"] is None  # no date of birth
    assert rows["t1"]["distance_km"] == pytest.approx(0.0)
    assert rows["t2"]["distance_km"] == pytest.approx(111.2, abs=0.1)  # 1 degree on the equator
    assert rows["t3"]["distance_km"] == pytest.approx(342.4, abs=0.5)  # London - Paris
    assert (rows["t1"]["drop"], rows["t2"]["drop"], rows["t3"]["drop"]) == (10.0, 0.0, None)
    assert rows["t1"]["total"] == 200.0
    assert rows["t1"]["share"] == 0.1
    assert rows["t3"]["share"] is None
    assert rows["t1"]["error"] == 0.0
    assert rows["t2"]["error"] == 25.0
    # Inputs only read for a derivation are used, not reported as left out; nor kept as extras.
    assert result.report.unused_columns == ()
    assert "dob" not in table.columns
    assert not any(math.isnan(v) for v in table["drop"].drop_nulls())


def test_an_input_can_also_be_an_extra(tmp_path: Path) -> None:
    table = read_events(
        events(tmp_path), mapping({"drop": {"difference": ["old", "new"]}}, extra=["old"])
    ).table
    assert table["old"].to_list() == [100.0, 50.0, 0.0]
    assert table["drop"].to_list() == [10.0, 0.0, None]


def test_bad_inputs_are_row_problems_naming_the_column(tmp_path: Path) -> None:
    rows = [*ROWS[:2], "t3,2024-01-03 10:00:00,c3,s2,5,not a date,1,1,1,1,abc,1,0"]
    derive = {"age": {"years_between": ["dob", "timestamp"]}, "d": {"difference": ["old", "new"]}}
    with pytest.raises(InvalidRowsError) as caught:
        read_events(events(tmp_path, rows), mapping(derive))
    found = {(p.row, p.column) for p in caught.value.problems}
    assert found == {(3, "dob"), (3, "old")}
    kept = read_events(events(tmp_path, rows), mapping(derive), skip_invalid=True)
    assert kept.report.rows_kept == 2


@pytest.mark.parametrize(
    ("derive", "message"),
    [
        ({"age": "dob"}, "expected one operation"),
        ({"age": {"years_between": ["dob"]}}, "takes 2 columns"),
        ({"age": {"median": ["a", "b"]}}, "unknown operation 'median'"),
        ({"amount": {"difference": ["old", "new"]}}, "cannot name a derived attribute"),
        ({"9x": {"difference": ["old", "new"]}}, "cannot name a derived attribute"),
        ({"e": {"linear": {"old": "one"}}}, "numeric weights"),
        ({"e": {"haversine": ["lat", "lon", "mlat"]}}, "takes 4 columns"),
        ({"e": {"sum": ["old", 3]}}, "expected sum ="),
        ({"old": {"difference": ["old", "new"]}}, "also an extra column"),
    ],
)
def test_bad_derive_tables_name_the_key(derive: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError, match=message) as caught:
        mapping(derive, extra=["old"])
    assert "derive" in str(caught.value)


def test_a_missing_input_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"derive.d: source column 'nope' is not in the file"):
        read_events(events(tmp_path), mapping({"d": {"difference": ["old", "nope"]}}))
    with pytest.raises(MappingError, match="canonical column 'device_id' is not mapped"):
        read_events(events(tmp_path), mapping({"d": {"difference": ["old", "device_id"]}}))
