from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frisk.data import conform
from frisk.errors import FeatureError, InvalidEventError
from frisk.features import MemoryStore, OnlineFeatures, compute_offline, resolve_catalogue
from frisk.features.testing import mismatches, random_events, to_frame

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
# Peeks at the event's own time, inside and across window edges, and past the retention.
_PEEK_OFFSETS = [
    timedelta(0),
    timedelta(minutes=11),
    timedelta(hours=2),
    timedelta(days=8),
    timedelta(days=31),
    timedelta(days=200),
]


def _event(i: int, at: datetime, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "transaction_id": f"t{i}",
        "timestamp": at,
        "amount": 10.0 + i,
        "currency": "EUR",
        "payer_id": "p1",
        "payee_id": "m1",
        "device_id": "d1",
        "channel": "card",
    }
    event.update(changes)
    return event


def _rows(table: pl.DataFrame) -> list[dict[str, Any]]:
    return list(table.iter_rows(named=True))


def test_unseen_entity_and_own_event_not_counted() -> None:
    catalogue = resolve_catalogue("default")
    online = OnlineFeatures(catalogue)
    first = dict(zip(catalogue.names, online.update(_event(0, T0)), strict=True))
    assert first["txn_count_by_payer_1h"] == 0.0
    assert first["amount_sum_by_payer_24h"] == 0.0
    assert math.isnan(first["amount_mean_by_payer_24h"])
    assert math.isnan(first["seconds_since_last_by_payer"])
    assert first["first_time_by_payer_payee"] == 1.0
    assert first["amount"] == 10.0
    assert first["channel"] == "card"
    second = dict(zip(catalogue.names, online.update(_event(1, T0)), strict=True))
    assert second["txn_count_by_payer_1h"] == 1.0  # same instant, earlier: counts
    assert second["seconds_since_last_by_payer"] == 0.0
    assert second["first_time_by_payer_payee"] == 0.0


def test_null_device_is_not_an_entity() -> None:
    catalogue = resolve_catalogue("default")
    online = OnlineFeatures(catalogue)
    online.update(_event(0, T0, device_id=None))
    out = dict(zip(catalogue.names, online.update(_event(1, T0, device_id=None)), strict=True))
    assert math.isnan(out["txn_count_by_device_1h"])
    assert math.isnan(out["first_time_by_payer_device"])
    assert out["distinct_device_by_payer_24h"] == 0.0


def test_label_seen_only_after_its_arrival() -> None:
    catalogue = resolve_catalogue("default")
    online = OnlineFeatures(catalogue)
    online.update(_event(0, T0))
    online.apply_label("t0", 1, T0 + timedelta(hours=1))
    names = catalogue.names
    at_arrival = dict(zip(names, online.update(_event(1, T0 + timedelta(hours=1))), strict=True))
    after = dict(
        zip(names, online.update(_event(2, T0 + timedelta(hours=1, microseconds=1))), strict=True)
    )
    assert at_arrival["fraud_count_by_payee_30d"] == 0.0
    assert after["fraud_count_by_payee_30d"] == 1.0
    assert after["fraud_rate_by_payee_30d"] == 1.0


def test_warm_equals_replay_and_offline() -> None:
    table = random_events(5, 200)
    catalogue = resolve_catalogue("default", table)
    head, tail = table.head(150), table.tail(50)
    warmed = OnlineFeatures(catalogue)
    warmed.warm(head, freeze_gc=False)
    # Labels of the head that arrive later are queued by warm; the tail's own labels are not.
    for txn, label, at in (
        tail.filter(pl.col("label_timestamp").is_not_null())
        .select("transaction_id", "label", pl.col("label_timestamp").to_physical())
        .iter_rows()
    ):
        warmed.apply_label(txn, label, at)
    rows = [warmed.update(event) for event in _rows(tail)]
    expected = compute_offline(table, catalogue).tail(50)
    assert mismatches(expected, to_frame(tail.get_column("transaction_id"), rows, catalogue)) == []


def test_snapshot_restore_continues_identically(tmp_path: Path) -> None:
    table = random_events(6, 160)
    catalogue = resolve_catalogue("default", table)
    one = OnlineFeatures(catalogue)
    one.warm(table.head(100), freeze_gc=False)
    one.snapshot(tmp_path / "state.bin")
    two = OnlineFeatures.restore(tmp_path / "state.bin", catalogue)
    for event in _rows(table.tail(60)):
        assert (
            mismatches(
                to_frame(pl.Series(["x"]), [one.update(event)], catalogue),
                to_frame(pl.Series(["x"]), [two.update(event)], catalogue),
                0.0,
            )
            == []
        )


def test_snapshot_of_another_catalogue_is_refused(tmp_path: Path) -> None:
    online = OnlineFeatures(resolve_catalogue("default"))
    online.snapshot(tmp_path / "state.bin")
    other = resolve_catalogue("default", random_events(0, 5))
    with pytest.raises(FeatureError, match="catalogue version"):
        OnlineFeatures.restore(tmp_path / "state.bin", other)
    (tmp_path / "junk.bin").write_bytes(b"hello\n")
    with pytest.raises(FeatureError, match="not a Frisk feature state snapshot"):
        OnlineFeatures.restore(tmp_path / "junk.bin", other)


def test_peek_does_not_change_state() -> None:
    catalogue = resolve_catalogue("default")
    online = OnlineFeatures(catalogue)
    online.update(_event(0, T0))
    peeked = online.peek(_event(1, T0 + timedelta(minutes=1)))
    updated = online.update(_event(1, T0 + timedelta(minutes=1)))
    ids = pl.Series(["t1"])
    assert (
        mismatches(to_frame(ids, [peeked], catalogue), to_frame(ids, [updated], catalogue), 0.0)
        == []
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10_000),
    st.lists(st.tuples(st.integers(0, 119), st.sampled_from(_PEEK_OFFSETS)), max_size=6),
)
def test_peeks_anywhere_change_no_later_update(
    seed: int, peeks: list[tuple[int, timedelta]]
) -> None:
    """A peek, even at a time far after the events that follow it, writes nothing: with peeks
    interleaved, every update (labels included) returns what it returns without them."""
    catalogue = resolve_catalogue("default")
    table = random_events(seed, 120)
    rows = _rows(table)
    plain = OnlineFeatures(catalogue).replay(table)
    peeking = OnlineFeatures(catalogue)
    for txn, label, at in (
        table.filter(pl.col("label_timestamp").is_not_null())
        .select("transaction_id", "label", "label_timestamp")
        .iter_rows()
    ):
        peeking.apply_label(txn, int(label), at)
    at_row: dict[int, list[timedelta]] = {}
    for position, offset in peeks:
        at_row.setdefault(position, []).append(offset)
    vectors = []
    for i, row in enumerate(rows):
        for offset in at_row.get(i, []):
            peeking.peek({**row, "transaction_id": "peek", "timestamp": row["timestamp"] + offset})
        vectors.append(peeking.update(row))
    ids = table.get_column("transaction_id")
    assert mismatches(plain, to_frame(ids, vectors, catalogue), 0.0) == []


def test_state_expires_after_the_retention() -> None:
    catalogue = resolve_catalogue("default")
    store = MemoryStore()
    online = OnlineFeatures(catalogue, store)
    for i in range(50):
        online.update(_event(i, T0 + timedelta(minutes=i), payer_id=f"p{i}", payee_id=f"m{i}"))
    assert len(store.keys("key:payer")) == 50
    later = T0 + timedelta(days=31)
    online.update(_event(99, later, payer_id="new", payee_id="new"))
    online.sweep()
    assert store.keys("key:payer") == {"new"}
    assert store.keys("key:payer_payee") == {"new\x1fnew"}


def test_bad_events_are_refused() -> None:
    online = OnlineFeatures(resolve_catalogue("default"))
    with pytest.raises(InvalidEventError, match="timestamp"):
        online.update(_event(0, datetime(2024, 1, 1)))
    with pytest.raises(InvalidEventError, match="amount"):
        online.update(_event(0, T0, amount=-1.0))
    with pytest.raises(InvalidEventError, match="label"):
        online.apply_label("t0", 2, T0)


def test_a_non_number_in_a_numeric_extra_is_refused_and_changes_nothing() -> None:
    events = [_event(i, T0 + timedelta(minutes=i), balance=100.0 * i) for i in range(3)]
    catalogue = resolve_catalogue("default", conform(pl.DataFrame(events)))
    assert "balance" not in catalogue.categorical
    online, untouched = OnlineFeatures(catalogue), OnlineFeatures(catalogue)
    for event in events[:2]:
        online.update(event)
        untouched.update(event)
    with pytest.raises(InvalidEventError, match="balance"):
        online.update(_event(7, T0 + timedelta(minutes=2), balance="plenty"))
    assert online.update(events[2]) == untouched.update(events[2])


def test_a_refused_event_applies_no_queued_label() -> None:
    """A bad event far in the future must not apply labels early: the next event at its own
    time still does not see a label arriving after it."""
    catalogue = resolve_catalogue("default")
    online = OnlineFeatures(catalogue)
    online.update(_event(0, T0))
    online.apply_label("t0", 1, T0 + timedelta(days=1))
    with pytest.raises(InvalidEventError, match="amount"):
        online.update(_event(1, T0 + timedelta(days=9), amount=-1.0))
    out = dict(zip(catalogue.names, online.update(_event(2, T0 + timedelta(hours=1))), strict=True))
    assert out["fraud_count_by_payee_30d"] == 0.0
    assert math.isnan(out["fraud_rate_by_payee_30d"])


def test_label_with_its_event_needs_no_memory_of_transactions() -> None:
    catalogue = resolve_catalogue("default")
    store = MemoryStore()
    online = OnlineFeatures(catalogue, store, remember=0)
    names = catalogue.names
    first = _event(0, T0)
    online.update(first)
    assert store.claims() == set()
    online.apply_label("t0", 1, T0 + timedelta(hours=1))  # unknown: ignored
    online.apply_label("t0", 1, T0 + timedelta(hours=1), event=first)
    after = dict(zip(names, online.update(_event(1, T0 + timedelta(hours=2))), strict=True))
    assert after["fraud_count_by_payer_30d"] == 1.0
    assert after["fraud_count_by_device_30d"] == 1.0


def test_transaction_memory_is_bounded() -> None:
    catalogue = resolve_catalogue("default")
    store = MemoryStore()
    online = OnlineFeatures(catalogue, store, remember=10)
    for i in range(50):
        online.update(_event(i, T0 + timedelta(minutes=i)))
    assert store.claims() == {f"t{i}" for i in range(40, 50)}
    online.apply_label("t3", 1, T0 + timedelta(hours=1))  # forgotten: ignored
    online.apply_label("t45", 1, T0 + timedelta(hours=1))
    out = dict(
        zip(catalogue.names, online.update(_event(99, T0 + timedelta(hours=2))), strict=True)
    )
    assert out["fraud_count_by_payer_30d"] == 1.0


def test_update_sweeps_expired_entities_a_few_at_a_time() -> None:
    catalogue = resolve_catalogue("default")
    store = MemoryStore()
    online = OnlineFeatures(catalogue, store)
    for i in range(200):
        online.update(_event(i, T0 + timedelta(seconds=i), payer_id=f"p{i}", payee_id=f"m{i}"))
    later = T0 + timedelta(days=31)
    for i in range(150):  # each new entity pays for checking two queued ones
        online.update(_event(1000 + i, later + timedelta(seconds=i), payer_id=f"q{i}"))
    assert store.keys("key:payer") == {f"q{i}" for i in range(150)}
