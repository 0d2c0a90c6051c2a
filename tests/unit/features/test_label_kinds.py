"""Label risk at several resolutions and by both clocks, label counts, and ratio features."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frisk.errors import FeatureError
from frisk.features import compute_offline, load_catalogue
from frisk.features.entity import Log
from frisk.features.online import OnlineFeatures
from frisk.features.testing import mismatches, online_features, random_events

LABELS = """
[[features]]
kind = "label"
key = ["payer", "payee", "device", "payer_payee", "payer_device"]
agg = ["count", "rate", "labelled"]
window = ["10m", "1h", "24h", "7d"]
clock = ["arrival", "event"]

[[features]]
kind = "window"
key = "payee"
window = ["1h", "24h"]
agg = ["count", "mean"]

[[features]]
kind = "ratio"
of = ["txn_count_by_payee_1h", "amount_mean_by_payee_1h"]
to = ["txn_count_by_payee_24h", "amount_mean_by_payee_24h"]

[[features]]
kind = "attribute"
agg = "amount"
"""
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(3))
def test_every_label_window_and_clock_online_equals_offline(seed: int) -> None:
    table = random_events(seed, 400, payers=3, payees=3, devices=2)
    catalogue = load_catalogue(LABELS, table, source="labels")
    offline = compute_offline(table, catalogue)
    assert mismatches(offline, online_features(table, catalogue), 1e-9) == []


def test_names_say_the_clock_and_the_statistic() -> None:
    names = load_catalogue(LABELS, source="labels").names
    assert "fraud_count_by_payee_7d" in names  # arrival clock: the names as before
    assert "fraud_rate_by_device_10m_event_time" in names
    assert "labelled_count_by_payer_24h_event_time" in names
    assert "ratio_txn_count_by_payee_1h_to_txn_count_by_payee_24h" in names
    assert "fraud_count_by_payer_device_7d_event_time" in names  # any entity key


def _event(i: int, at: datetime, payee: str = "shop") -> dict[str, Any]:
    return {
        "transaction_id": f"t{i}",
        "timestamp": at,
        "amount": 10.0,
        "currency": "EUR",
        "payer_id": f"p{i}",
        "payee_id": payee,
    }


def test_the_event_clock_tells_last_week_from_a_month_ago() -> None:
    """A chargeback for a payment 20 days ago arrives today: by arrival it is fresh news, by
    the payment's time it is old; a report on yesterday's payment is recent by both clocks."""
    catalogue = load_catalogue(
        """
[[features]]
kind = "label"
key = "payee"
agg = "count"
window = "7d"
clock = ["arrival", "event"]
""",
        source="clock",
    )
    online = OnlineFeatures(catalogue)
    online.update(_event(0, T0))
    online.update(_event(1, T0 + timedelta(days=19)))
    online.apply_label("t0", 1, T0 + timedelta(days=20))  # a chargeback, 20 days on
    online.apply_label("t1", 1, T0 + timedelta(days=20))  # a report, a day on
    out = dict(zip(catalogue.names, online.update(_event(2, T0 + timedelta(days=21))), strict=True))
    assert out["fraud_count_by_payee_7d"] == 2.0
    assert out["fraud_count_by_payee_7d_event_time"] == 1.0


def test_a_label_never_counts_before_it_arrives_on_either_clock() -> None:
    catalogue = load_catalogue(
        '[[features]]\nkind = "label"\nkey = "payee"\nagg = "count"\nwindow = "7d"\n'
        'clock = ["arrival", "event"]\n',
        source="clock",
    )
    online = OnlineFeatures(catalogue)
    online.update(_event(0, T0))
    online.apply_label("t0", 1, T0 + timedelta(days=2))
    before = online.update(_event(1, T0 + timedelta(days=1)))
    at = online.update(_event(2, T0 + timedelta(days=2)))  # the same instant: not yet
    after = online.update(_event(3, T0 + timedelta(days=2, seconds=1)))
    assert before == [0.0, 0.0]
    assert at == [0.0, 0.0]
    assert after == [1.0, 1.0]


def test_ratios_are_nan_without_a_divisor() -> None:
    table = random_events(3, 120)
    catalogue = load_catalogue(LABELS, table, source="labels")
    frame = compute_offline(table, catalogue)
    ratio = frame.get_column("ratio_txn_count_by_payee_1h_to_txn_count_by_payee_24h")
    base = frame.get_column("txn_count_by_payee_24h")
    assert ratio.filter(base == 0).is_nan().all()
    assert (ratio.filter(base > 0) <= 1.0).all()


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ('kind = "ratio"\nof = "amount"\nto = "nope"', "needs 'nope', a numeric feature"),
        ('kind = "ratio"\nof = "channel"\nto = "amount"', "needs 'channel', a numeric feature"),
        ('kind = "ratio"\nof = "amount"', "needs key 'to'"),
        (
            'kind = "label"\nkey = "payee"\nagg = "count"\nwindow = "7d"\nclock = "paid"',
            "clock 'paid' is not one of arrival, event",
        ),
    ],
)
def test_bad_groups_are_named(group: str, message: str) -> None:
    text = f'[[features]]\nkind = "attribute"\nagg = ["amount", "channel"]\n[[features]]\n{group}\n'
    with pytest.raises(FeatureError, match=message):
        load_catalogue(text, source="bad")


_OPS = st.lists(
    st.tuples(st.booleans(), st.integers(0, 60), st.integers(0, 3), st.integers(0, 1)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(_OPS)
def test_log_insert_keeps_every_window_equal_to_a_rescan(
    ops: list[tuple[bool, int, int, int]],
) -> None:
    """Entries inserted at any bucket, expiry at a clock that only moves forward: each window's
    sums (after expiry) equal a scan of what was inserted."""
    buckets = (1, 5, 20)
    log = Log(len(buckets))
    kept: list[tuple[int, int, int]] = []
    now = 0
    for is_query, step, back, fraud in ops:
        now += step
        if is_query:
            log.expire(now, buckets)
            for j, k in enumerate(buckets):
                live = [e for e in kept if e[0] > now - k]
                assert log.windows[4 * j + 1] == sum(c for _, c, _ in live)
                assert log.windows[4 * j + 2] == sum(f for _, _, f in live)
        else:
            log.expire(now, buckets)
            bucket = max(0, now - back * 7)
            log.insert(bucket, 1, fraud, 0)
            kept.append((bucket, 1, fraud))
    assert log.entries[0::4] == sorted(log.entries[0::4])
    assert pl.Series(log.entries[0::4]).is_unique().all()
