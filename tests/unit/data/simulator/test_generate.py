"""The simulated table as a whole: format, determinism, rates, labels, rhythm and drift."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from frisk.data.simulator import SCENARIOS, SimulationConfig, simulate
from frisk.data.table import EVENT_DTYPES, conform, write_table
from frisk.errors import ConfigError

SMALL = SimulationConfig(days=7, payers=300, seed=3, fraud_rate=0.03)


def test_same_config_gives_identical_parquet_bytes(tmp_path: Path) -> None:
    config = replace(SMALL, drift_at=4, currencies=("EUR", "GBP"))
    write_table(simulate(config), tmp_path / "a.parquet")
    write_table(simulate(config), tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_another_seed_gives_another_table() -> None:
    assert not simulate(SMALL).equals(simulate(replace(SMALL, seed=4)))


def test_table_is_canonical_and_time_ordered(table: pl.DataFrame) -> None:
    assert table.get_column("timestamp").is_sorted()
    assert conform(table).equals(table)
    for name, dtype in EVENT_DTYPES.items():
        assert table.schema[name] == dtype, name
    assert table.schema["account_age_days"] == pl.Float64
    assert table.schema["entry_mode"] == pl.String
    assert table.get_column("transaction_id").is_unique().all()
    assert table.get_column("amount").min() > 0  # type: ignore[operator]
    required = ["transaction_id", "timestamp", "amount", "currency", "payer_id", "payee_id"]
    assert table.select(pl.col(required).null_count()).sum_horizontal().item() == 0


def test_rows_stay_inside_the_simulated_days(table: pl.DataFrame) -> None:
    first = datetime(2024, 1, 1, tzinfo=UTC)
    assert table.get_column("timestamp").min() >= first  # type: ignore[operator]
    assert table.get_column("timestamp").max() < datetime(2024, 1, 22, tzinfo=UTC)  # type: ignore[operator]


def test_ids_have_stable_prefixes(table: pl.DataFrame) -> None:
    assert table.get_column("payer_id").str.starts_with("P").all()
    assert table.get_column("payee_id").str.contains(r"^[PM]\d+$").all()
    assert table.get_column("device_id").drop_nulls().str.contains(r"^D\d+$").all()
    assert table.get_column("transaction_id").str.contains(r"^T\d{10}$").all()


def test_fraud_rate_lands_near_the_target() -> None:
    frame = simulate(SimulationConfig(days=14, payers=3000, seed=1, fraud_rate=0.007))
    rate = frame.get_column("label").mean()
    assert rate is not None
    assert 0.005 < float(rate) < 0.009  # type: ignore[arg-type]


def test_no_fraud_when_the_rate_is_zero() -> None:
    frame = simulate(replace(SMALL, fraud_rate=0.0))
    assert frame.get_column("label").sum() == 0
    assert frame.get_column("scenario").null_count() == frame.height


def test_every_scenario_appears_with_consistent_labels(table: pl.DataFrame) -> None:
    frauds = table.filter(pl.col("label") == 1)
    assert set(frauds.get_column("scenario").unique()) == set(SCENARIOS)
    legit = table.filter(pl.col("label") == 0)
    assert (
        legit.select(pl.col("scenario", "label_timestamp", "label_source").null_count()).row(0)
        == (legit.height,) * 3
    )


def test_label_events_come_after_the_fraud_and_some_never(table: pl.DataFrame) -> None:
    frauds = table.filter(pl.col("label") == 1)
    known = frauds.filter(pl.col("label_timestamp").is_not_null())
    assert (known.get_column("label_timestamp") > known.get_column("timestamp")).all()
    assert set(known.get_column("label_source").unique()) == {
        "chargeback",
        "customer_report",
        "analyst",
    }
    never = frauds.get_column("label_timestamp").null_count() / frauds.height
    assert 0.05 < never < 0.3
    unlabelled = frauds.filter(pl.col("label_timestamp").is_null())
    assert unlabelled.get_column("label_source").null_count() == unlabelled.height
    delay_days = (
        known.get_column("label_timestamp") - known.get_column("timestamp")
    ).dt.total_hours() / 24
    chargebacks = delay_days.filter(known.get_column("label_source") == "chargeback")
    assert chargebacks.min() >= 7  # type: ignore[operator]
    assert chargebacks.max() <= 57  # type: ignore[operator]
    reports = delay_days.filter(known.get_column("label_source") == "customer_report")
    assert reports.median() < 7  # type: ignore[operator]


def test_few_payments_at_night(table: pl.DataFrame) -> None:
    # The default population lives in UTC+1: 01:00-04:59 UTC is the middle of the night.
    hours = table.get_column("timestamp").dt.hour()
    night = hours.is_between(1, 4).sum()
    midday = hours.is_between(10, 13).sum()
    assert night * 10 < midday


def test_weekly_rhythm(table: pl.DataFrame) -> None:
    legit = table.filter(pl.col("label") == 0)
    per_weekday = legit.group_by(pl.col("timestamp").dt.weekday()).len()
    counts = dict(per_weekday.iter_rows())
    assert counts[6] > counts[7] * 1.2  # Saturday is busier than Sunday


def test_payers_have_home_currencies_when_several_are_asked_for() -> None:
    frame = simulate(replace(SMALL, currencies=("EUR", "USD", "GBP")))
    pairs = set(frame.select("payer_country", "currency").unique().iter_rows())
    assert {"EUR", "USD", "GBP"} == {currency for _, currency in pairs}
    assert ("US", "USD") in pairs
    assert ("GB", "GBP") in pairs
    assert (
        frame.group_by("payer_id").agg(pl.col("currency").n_unique()).get_column("currency").max()
        == 1
    )


def test_drift_changes_the_fraud_mix_and_channels(drifted: pl.DataFrame) -> None:
    after = pl.col("timestamp") >= datetime(2024, 1, 15, tzinfo=UTC)
    frauds = drifted.filter(pl.col("label") == 1)

    def share(frame: pl.DataFrame, predicate: pl.Expr) -> float:
        return frame.filter(predicate).height / frame.height

    grown = pl.col("scenario").is_in(["mule_account", "social_engineering"])
    assert share(frauds.filter(after), grown) > share(frauds.filter(~after), grown) + 0.15
    upi = pl.col("channel") == "upi"
    legit = drifted.filter(pl.col("label") == 0)
    assert share(legit.filter(after), upi) > 2 * share(legit.filter(~after), upi)
    # Social engineering moves from night-time bank transfers to daytime instant payments.
    social = frauds.filter(pl.col("scenario") == "social_engineering")
    assert share(social.filter(~after), pl.col("channel") == "bank_transfer") > 0.6
    assert share(social.filter(after), pl.col("channel") == "bank_transfer") < 0.4


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"days": 0}, "days=0"),
        ({"payers": 5}, "payers=5"),
        ({"fraud_rate": 0.7}, "fraud_rate=0.7"),
        ({"drift_at": 7}, "drift_at=7"),
        ({"currencies": ("XYZ",)}, "'XYZ'"),
        ({"currencies": ()}, "currencies"),
        ({"start": datetime(2024, 1, 1)}, "timezone"),
    ],
)
def test_bad_config_is_refused_naming_the_value(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        replace(SMALL, **changes)  # type: ignore[arg-type]


def test_fraud_settings_leave_legit_payments_alone() -> None:
    # Sub-streams: scenarios draw from their own generators, not from the legit ones.
    legit = pl.col("label") == 0
    columns = pl.exclude("transaction_id")
    low = simulate(replace(SMALL, fraud_rate=0.01)).filter(legit).select(columns)
    high = simulate(replace(SMALL, fraud_rate=0.04)).filter(legit).select(columns)
    assert low.equals(high)
