"""Each fraud scenario leaves the signature it is meant to have, checked on the data."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

FRAUD = pl.col("label") == 1


def _scenario(table: pl.DataFrame, name: str) -> pl.DataFrame:
    rows = table.filter(pl.col("scenario") == name)
    assert rows.height > 0, name
    return rows


def _legit_history(table: pl.DataFrame) -> pl.DataFrame:
    """Each payer's legit payees, devices and median amount."""
    return (
        table.filter(pl.col("label") == 0)
        .group_by("payer_id")
        .agg(
            pl.col("payee_id").unique().alias("payees"),
            pl.col("device_id").drop_nulls().unique().alias("devices"),
            pl.col("amount").median().alias("median"),
        )
    )


def _with_history(table: pl.DataFrame, name: str) -> pl.DataFrame:
    return _scenario(table, name).join(_legit_history(table), on="payer_id", how="left")


def test_account_takeover_uses_a_new_device_and_new_payees(table: pl.DataFrame) -> None:
    rows = _with_history(table, "account_takeover")
    new_device = ~pl.col("devices").list.contains(pl.col("device_id"))
    new_payee = ~pl.col("payees").list.contains(pl.col("payee_id"))
    assert rows.select(new_device.all()).item()
    assert rows.select(new_payee.mean()).item() > 0.95
    assert rows.select((pl.col("amount") > 4 * pl.col("median")).mean()).item() > 0.9
    # A burst: each victim's takeover payments fall within a few hours.
    bursts = rows.group_by("payer_id", "device_id").agg(
        (pl.col("timestamp").max() - pl.col("timestamp").min()).alias("span"), pl.len()
    )
    assert (bursts.get_column("len") >= 3).all()
    assert bursts.get_column("span").max() < timedelta(hours=12)  # type: ignore[operator]


def test_card_testing_is_many_tiny_online_payments_within_minutes(table: pl.DataFrame) -> None:
    tiny = _scenario(table, "card_testing").filter(pl.col("amount") < 2)
    per_card = tiny.group_by("payer_id", "device_id").agg(
        pl.len(),
        (pl.col("timestamp").max() - pl.col("timestamp").min()).alias("span"),
        (pl.col("channel") == "card_not_present").mean().alias("online"),
    )
    assert (per_card.get_column("len") >= 5).all()
    assert per_card.get_column("span").max() < timedelta(minutes=30)  # type: ignore[operator]
    assert per_card.get_column("online").min() > 0.9  # type: ignore[operator]


def test_compromised_merchant_takes_many_cards_over_weeks(table: pl.DataFrame) -> None:
    per_merchant = (
        _scenario(table, "compromised_merchant")
        .group_by("payee_id")
        .agg(
            pl.col("payer_id").n_unique().alias("payers"),
            (pl.col("timestamp").max() - pl.col("timestamp").min()).alias("span"),
            (pl.col("entry_mode") == "magstripe").mean().alias("magstripe"),
        )
    )
    assert per_merchant.get_column("payee_id").str.starts_with("M").all()
    assert (per_merchant.get_column("payers") >= 10).all()
    assert (per_merchant.get_column("span") > timedelta(days=7)).all()
    assert per_merchant.get_column("magstripe").min() > 0.4  # type: ignore[operator]
    magstripe_legit = table.filter(~FRAUD).select((pl.col("entry_mode") == "magstripe").mean())
    assert magstripe_legit.item() < 0.05


def test_mule_accounts_fan_in_then_fan_out(table: pl.DataFrame) -> None:
    rows = _scenario(table, "mule_account")
    fan_in = rows.group_by("payee_id").agg(
        pl.col("payer_id").n_unique().alias("payers"),
        (pl.col("timestamp").max() - pl.col("timestamp").min()).alias("span"),
        pl.col("timestamp").max().alias("last_in"),
    )
    mules = fan_in.filter(pl.col("payers") >= 6)
    assert mules.height > 0
    assert mules.get_column("span").max() < timedelta(days=3)  # type: ignore[operator]
    fan_out = rows.join(mules, left_on="payer_id", right_on="payee_id")
    assert set(fan_out.get_column("payer_id")) == set(mules.get_column("payee_id"))
    assert (fan_out.get_column("timestamp") > fan_out.get_column("last_in")).all()
    # Mules are young accounts, unlike most payers.
    assert fan_out.get_column("account_age_days").max() < 100  # type: ignore[operator]


def test_social_engineering_is_a_large_payment_to_a_first_time_payee(
    table: pl.DataFrame,
) -> None:
    rows = _with_history(table, "social_engineering")
    assert rows.select((~pl.col("payees").list.contains(pl.col("payee_id"))).all()).item()
    first = rows.sort("timestamp").group_by("payer_id").first()
    assert first.select((pl.col("amount") > 5 * pl.col("median")).all()).item()
    assert set(rows.get_column("channel")) <= {"bank_transfer", "upi"}
    local_hour = (rows.get_column("timestamp") + timedelta(hours=1)).dt.hour()
    assert local_hour.is_in([22, 23, 0, 1, 2, 3, 4]).mean() > 0.9  # type: ignore[operator]
    # The victim's own device: the victim is the one paying.
    assert rows.select(pl.col("devices").list.contains(pl.col("device_id")).mean()).item() > 0.9


def test_amount_anomaly_is_far_above_the_payers_history(table: pl.DataFrame) -> None:
    rows = _with_history(table, "amount_anomaly")
    assert rows.select((pl.col("amount") > 5 * pl.col("median")).all()).item()
    assert rows.get_column("payee_id").str.starts_with("M").all()


def test_friendly_fraud_looks_like_the_payers_habits(table: pl.DataFrame) -> None:
    rows = _with_history(table, "friendly_fraud")
    ratio = rows.select((pl.col("amount") / pl.col("median")).median()).item()
    assert 0.3 < ratio < 3
    assert set(rows.get_column("label_source").drop_nulls()) == {"chargeback"}


@pytest.mark.parametrize("name", ["account_takeover", "social_engineering", "amount_anomaly"])
def test_victims_are_payers_with_a_history(table: pl.DataFrame, name: str) -> None:
    rows = _with_history(table, name)
    assert rows.get_column("median").null_count() == 0
