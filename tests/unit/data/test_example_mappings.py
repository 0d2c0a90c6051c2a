"""The example mappings import the published formats: Kaggle slices here, full sets if present."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from frisk.data.importer import read_events
from frisk.data.mapping import Mapping
from frisk.errors import MappingError

ROOT = Path(__file__).parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "import"
MAPPINGS = ROOT / "examples" / "mappings"
# Shared, read-only data sets next to the project (see its README); absent on most machines.
DATASETS = ROOT.parent / "shared" / "datasets"


def test_sparkov_kaggle_slice() -> None:
    result = read_events(
        FIXTURES / "sparkov_kaggle_head200.csv", Mapping.load(MAPPINGS / "sparkov.toml")
    )
    table = result.table
    assert result.report.rows_kept == 200
    first = table.row(0, named=True)
    # The first row of Kaggle's fraudTrain.csv.
    assert first["transaction_id"] == "0b242abb623afc578575680df30655b9:2703186189652095"
    assert str(first["timestamp"]) == "2019-01-01 00:00:18+00:00"
    assert first["payer_id"] == "2703186189652095"
    assert first["payee_id"] == "fraud_Rippin, Kub and Mann"
    assert first["merchant_category"] == "misc_net"
    assert (first["amount"], first["currency"], first["channel"]) == (4.97, "USD", "card")
    assert (first["payer_country"], first["payee_country"]) == ("US", "US")
    assert (first["lat"], first["merch_long"], first["city_pop"]) == (36.0788, -82.048315, 3495.0)
    assert (first["gender"], first["state"]) == ("F", "NC")
    assert first["age_years"] == pytest.approx(30.8, abs=0.05)  # born 1988-03-09
    assert first["distance_km"] == pytest.approx(78.6, abs=1.0)
    assert "dob" not in table.columns
    assert table["label"].to_list() == [0] * 200
    assert "" in result.report.unused_columns  # Kaggle's unnamed index column
    assert "unix_time" in result.report.unused_columns


def test_paysim_kaggle_slice() -> None:
    result = read_events(
        FIXTURES / "paysim_kaggle_head200.csv", Mapping.load(MAPPINGS / "paysim.toml")
    )
    table = result.table
    assert result.report.rows_kept == 200
    assert result.report.derived_ids
    assert table["transaction_id"].n_unique() == 200
    assert set(table["channel"]) == {"payment", "transfer", "cash_out", "debit"}
    assert str(table["timestamp"][0]) == "2024-01-01 01:00:00+00:00"  # step 1
    assert table["label"].sum() == 2
    assert table.schema["oldbalanceOrg"] == pl.Float64
    assert result.report.unused_columns == ("isFlaggedFraud",)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mapping", "name", "rows", "frauds"),
    [
        ("sparkov.toml", "sparkov_250cards_2019-2020.parquet", 417_412, None),
        ("paysim.toml", "paysim_steps300-719.parquet", 996_899, 2_850),
    ],
)
def test_full_data_sets(mapping: str, name: str, rows: int, frauds: int | None) -> None:
    path = DATASETS / name
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    result = read_events(path, Mapping.load(MAPPINGS / mapping))
    assert result.report.rows_kept == rows
    assert result.report.duplicate_ids == 0
    assert result.table["transaction_id"].n_unique() == rows
    if frauds is not None:
        assert result.table["label"].sum() == frauds


@pytest.mark.slow
def test_sparkov_trans_num_alone_is_refused_as_duplicated() -> None:
    path = DATASETS / "sparkov_250cards_2019-2020.parquet"
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    mapping = Mapping.load(MAPPINGS / "sparkov.toml")
    columns = {**mapping.columns, "transaction_id": ("trans_num",)}
    with pytest.raises(MappingError, match="9008 transaction id"):
        read_events(path, replace(mapping, columns=columns))


def test_european_cards_layout(tmp_path: Path) -> None:
    """Rows in the published creditcard.csv layout (made up here: the file is not shipped)."""
    names = [f"V{i}" for i in range(1, 29)]
    header = ",".join(['"Time"', *[f'"{n}"' for n in names], '"Amount"', '"Class"'])
    rows = [
        ",".join(["0", *[f"{(i - 14) / 10:.6f}" for i in range(28)], "149.62", '"0"']),
        ",".join(["0", *[f"{(14 - i) / 7:.6f}" for i in range(28)], "2.69", '"0"']),
        ",".join(["406", *["-2.312227"] * 28, "0", '"1"']),  # an amount of 0: a payment
        ",".join(["407", *["-2.312227"] * 28, "-5", '"0"']),  # a reversal: refused
        ",".join(["172792", *["0.5"] * 28, "217", '"1"']),
    ]
    path = tmp_path / "creditcard.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    mapping = Mapping.load(MAPPINGS / "european_cards.toml")
    result = read_events(path, mapping, skip_invalid=True)
    table = result.table
    assert result.report.invalid_rows == 1
    assert table.height == 4
    assert str(table["timestamp"][3]) == "2013-09-02 23:59:52+00:00"
    assert set(table["payer_id"]) == {"cardholder"}
    assert table["transaction_id"].n_unique() == 4
    assert table["label"].to_list() == [0, 0, 1, 1]
    assert table["amount"][2] == 0.0
    assert all(table.schema[n] == pl.Float64 for n in names)
    assert table["V1"][0] == pytest.approx(-1.4)
