"""Timestamp formats: every spelling to UTC microseconds, every failure with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from frisk.data.timestamps import TimestampFormat, check_timezone, parse_timestamps


def parse(values: list[object], fmt: str, tz: str = "UTC") -> tuple[list[object], list[object]]:
    parsed = parse_timestamps(pl.Series("t", values), TimestampFormat.parse(fmt), tz)
    assert parsed.values.dtype == pl.Datetime("us", "UTC")
    return parsed.values.to_list(), parsed.errors.to_list()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_iso_with_offsets_and_naive_values() -> None:
    values, errors = parse(
        [
            "2024-01-01T10:00:00Z",
            "2024-01-01T10:00:00+02:00",
            "2024-01-01T10:00:00-0130",
            "2024-01-01 10:00:00",
            "2024-01-01T10:00:00.250",
            "2024-01-01T10:00",
            "2024-01-01",
        ],
        "iso",
    )
    assert values == [
        utc(2024, 1, 1, 10),
        utc(2024, 1, 1, 8),
        utc(2024, 1, 1, 11, 30),
        utc(2024, 1, 1, 10),
        utc(2024, 1, 1, 10, 0, 0, 250000),
        utc(2024, 1, 1, 10),
        utc(2024, 1, 1),
    ]
    assert errors == [None] * 7


def test_naive_values_are_read_in_the_timezone_offsets_are_not() -> None:
    values, _ = parse(["2024-07-01 12:00:00", "2024-07-01T12:00:00+00:00"], "iso", "Europe/Paris")
    assert values == [utc(2024, 7, 1, 10), utc(2024, 7, 1, 12)]


def test_a_wall_time_skipped_by_dst_is_reported() -> None:
    values, errors = parse(["2024-03-31 02:30:00"], "iso", "Europe/Paris")
    assert values == [None]
    assert errors == ["'2024-03-31 02:30:00' does not exist in timezone Europe/Paris"]


def test_failures_are_reported_and_nulls_are_not_failures() -> None:
    values, errors = parse(["2024-02-30", "yesterday", None], "iso")
    assert values == [None, None, None]
    assert errors == [
        "'2024-02-30' does not match ISO 8601",
        "'yesterday' does not match ISO 8601",
        None,
    ]


def test_strftime_pattern() -> None:
    values, errors = parse(["31/01/2024 23:59", "2024-01-31"], "%d/%m/%Y %H:%M", "America/New_York")
    assert values == [utc(2024, 2, 1, 4, 59), None]
    assert errors == [None, "'2024-01-31' does not match %d/%m/%Y %H:%M"]


def test_strftime_pattern_with_offset() -> None:
    values, _ = parse(["2024-01-01 10:00:00 +0100"], "%Y-%m-%d %H:%M:%S %z", "Asia/Tokyo")
    assert values == [utc(2024, 1, 1, 9)]


def test_unix_seconds_text_and_numbers() -> None:
    values, errors = parse(["1700000000", "1700000000.5", "soon"], "unix_s")
    assert values == [utc(2023, 11, 14, 22, 13, 20), utc(2023, 11, 14, 22, 13, 20, 500000), None]
    assert errors == [None, None, "'soon' is not a number (unix_s)"]
    numbers, _ = parse([1700000000], "unix_s")
    assert numbers == [utc(2023, 11, 14, 22, 13, 20)]


def test_unix_milliseconds_and_a_wrong_unit_is_out_of_range() -> None:
    values, errors = parse([1700000000123, 1700000000123000000], "unix_ms")
    assert values == [utc(2023, 11, 14, 22, 13, 20, 123000), None]
    assert errors[0] is None
    assert "out of range for unix_ms" in str(errors[1])


def test_hours_since_an_origin() -> None:
    values, errors = parse([0, 1, 25, None], "hours_since:2024-01-01T00:00:00Z")
    assert values == [utc(2024, 1, 1), utc(2024, 1, 1, 1), utc(2024, 1, 2, 1), None]
    assert errors == [None] * 4
    fractions, _ = parse([1.5], "hours_since:2024-01-01T00:00:00+01:00")
    assert fractions == [utc(2024, 1, 1, 0, 30)]


def test_seconds_minutes_and_days_since_an_origin() -> None:
    # The European card data set's Time and IEEE-CIS's TransactionDT count seconds.
    values, errors = parse(["0", "1.25", "86400", "172801", "x"], "seconds_since:2013-09-01")
    assert values == [
        utc(2013, 9, 1),
        utc(2013, 9, 1) + timedelta(seconds=1.25),
        utc(2013, 9, 2),
        utc(2013, 9, 3, 0, 0, 1),
        None,
    ]
    assert errors[:4] == [None] * 4
    assert errors[4] is not None
    minutes, _ = parse([90], "minutes_since:2024-01-01T00:00:00Z")
    assert minutes == [utc(2024, 1, 1, 1, 30)]
    days, _ = parse([0.5, 31], "days_since:2024-01-01")
    assert days == [utc(2024, 1, 1, 12), utc(2024, 2, 1)]


def test_typed_datetime_columns_are_taken_as_they_are() -> None:
    aware = pl.Series("t", [utc(2024, 1, 1, 10)]).dt.convert_time_zone("Asia/Tokyo")
    parsed = parse_timestamps(aware, TimestampFormat.parse("unix_s"))
    assert parsed.values.to_list() == [utc(2024, 1, 1, 10)]
    naive = pl.Series("t", [datetime(2024, 7, 1, 12)])
    parsed = parse_timestamps(naive, TimestampFormat(), "Europe/Paris")
    assert parsed.values.to_list() == [utc(2024, 7, 1, 10)]


@pytest.mark.parametrize(
    "text",
    ["", "epoch", "hours_since:", "hours_since:monday", "unix_us", "weeks_since:2024-01-01"],
)
def test_bad_formats_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"format|origin"):
        TimestampFormat.parse(text)


def test_format_round_trips_its_spelling() -> None:
    for text in ("iso", "unix_s", "unix_ms", "%Y-%m-%d"):
        assert str(TimestampFormat.parse(text)) == text
    for unit in ("seconds", "minutes", "hours", "days"):
        spelled = f"{unit}_since:2024-01-01T00:00:00+00:00"
        assert str(TimestampFormat.parse(f"{unit}_since:2024-01-01")) == spelled
        assert str(TimestampFormat.parse(spelled)) == spelled


def test_timezones_are_checked() -> None:
    assert check_timezone("Europe/Paris") == "Europe/Paris"
    with pytest.raises(ValueError, match="Mars/Olympus"):
        check_timezone("Mars/Olympus")


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    sep=st.sampled_from(["T", " "]),
)
def test_iso_text_of_any_instant_reads_back_as_that_instant(
    moment: datetime, minutes: int, sep: str
) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=minutes)))
    values, errors = parse([local.isoformat(sep=sep)], "iso", "Asia/Tokyo")
    assert values == [moment]
    assert errors == [None]
    seconds, _ = parse([moment.timestamp()], "unix_s")
    assert abs(seconds[0] - moment) <= timedelta(microseconds=1)  # type: ignore[operator]


def test_numeric_timestamps_follow_decimal_commas() -> None:
    fmt = TimestampFormat.parse("seconds_since:2013-09-01")
    source = pl.Series("Time", ["172.792", "86.400,5", "1.5"])
    parsed = parse_timestamps(source, fmt, decimal_comma=True)
    assert parsed.values.to_list() == [
        utc(2013, 9, 1) + timedelta(seconds=172_792),
        utc(2013, 9, 1) + timedelta(seconds=86_400.5),
        None,  # a dot that is not between thousands: not a number in this notation
    ]
    assert parsed.errors.to_list()[:2] == [None, None]


def test_an_origin_before_1970_keeps_its_fraction() -> None:
    values, _ = parse(["0", "1"], "seconds_since:1969-12-31T23:59:59.5Z")
    assert values == [
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC),
    ]
