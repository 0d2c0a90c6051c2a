from __future__ import annotations

from pathlib import Path

import pytest

from frisk.errors import FeatureError
from frisk.features import Catalogue, FeatureSpec, Window, resolve_catalogue
from frisk.features.spec import HOUR, format_duration, parse_duration
from frisk.features.testing import random_events

USER = """
name = "lean"
extras = "none"

[[features]]
kind = "window"
key = ["payer", "device"]
window = ["10m", "7d"]
agg = ["count", "sum"]

[[features]]
kind = "distinct"
key = "payee"
of = "payer"
window = "1h"
"""


def test_names_are_derived_from_definitions() -> None:
    assert FeatureSpec("window", "payer", "sum", Window.of("24h")).name == (
        "amount_sum_by_payer_24h"
    )
    assert FeatureSpec("window", "device", "count", Window.of("1h")).name == (
        "txn_count_by_device_1h"
    )
    assert FeatureSpec("recency", "payer").name == "seconds_since_last_by_payer"
    assert FeatureSpec("distinct", "payer", of="payee", window=Window.of("24h")).name == (
        "distinct_payee_by_payer_24h"
    )
    assert FeatureSpec("relative", "payer", "zscore", n=50).name == (
        "amount_zscore_by_payer_last50"
    )


def test_durations_and_window_resolution() -> None:
    assert parse_duration("10m") == 600_000_000
    assert format_duration(parse_duration("24h")) == "24h"
    assert format_duration(parse_duration("7d")) == "7d"
    assert Window.of("1h").res == 1
    assert Window.of("30d").res == HOUR
    assert Window.of("30d").buckets == 720
    with pytest.raises(FeatureError, match="'90x'"):
        parse_duration("90x")


def test_default_catalogue_binds_extras_of_the_table() -> None:
    table = random_events(0, 20)
    catalogue = resolve_catalogue("default", table)
    assert 60 <= len(catalogue.names) <= 150
    assert "extra_risk_score" in catalogue.names
    assert "extra_segment" in catalogue.categorical
    assert "channel" in catalogue.categorical
    assert "amount_sum_by_payer_24h" not in catalogue.categorical
    assert resolve_catalogue("default").names == catalogue.names[: len(catalogue.names) - 2]


def test_round_trip_and_stable_version() -> None:
    catalogue = resolve_catalogue("default", random_events(0, 20))
    again = Catalogue.from_dict(catalogue.to_dict())
    assert again == catalogue
    assert (
        again.version
        == catalogue.version
        == resolve_catalogue("default", random_events(1, 20)).version
    )
    changed = catalogue.to_dict()
    changed["features"] = changed["features"][:-1]
    with pytest.raises(FeatureError, match="does not match"):
        Catalogue.from_dict(changed)


def test_user_catalogue_file(tmp_path: Path) -> None:
    path = tmp_path / "lean.toml"
    path.write_text(USER)
    catalogue = resolve_catalogue(path, random_events(0, 20))
    assert catalogue.name == "lean"
    assert catalogue.names == [
        "txn_count_by_payer_10m",
        "amount_sum_by_payer_10m",
        "txn_count_by_payer_7d",
        "amount_sum_by_payer_7d",
        "txn_count_by_device_10m",
        "amount_sum_by_device_10m",
        "txn_count_by_device_7d",
        "amount_sum_by_device_7d",
        "distinct_payer_by_payee_1h",
    ]
    assert catalogue.version != resolve_catalogue("default").version


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[features]]\nkind = 'window'\nkey = 'payer'\nwindow = '1h'\nagg = 'median'",
            "agg 'median'",
        ),
        ("[[features]]\nkind = 'window'\nkey = 'card'\nwindow = '1h'\nagg = 'sum'", "key 'card'"),
        ("[[features]]\nkind = 'recency'\nkey = 'payer'\nwindow = '1h'", "key 'window'"),
        ("[[features]]\nkind = 'velocity'", "kind 'velocity'"),
        ("colour = 'red'\n[[features]]\nkind = 'calendar'", "key 'colour'"),
        ("[[features]]\nkind = 'window'\nkey = 'payer'\nagg = 'sum'", "needs key 'window'"),
        ("[[features]]\nkind = 'window'\nkey = 'payer'\nwindow = '90m'\nagg = 'sum'", "'90m'"),
        ("[[features]]\nkind = 'window'\nkey = 'payer'\nwindow = '60d'\nagg = 'sum'", "retention"),
        ("[[features]]\nkind = 'calendar'\n[[features]]\nkind = 'calendar'", "appears twice"),
        ("extras = ['nope']\n[[features]]\nkind = 'calendar'", "'nope'"),
        ("[[features]\n", "not valid TOML"),
    ],
)
def test_bad_catalogue_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(FeatureError, match=message):
        resolve_catalogue(path, random_events(0, 5))


def test_unknown_catalogue_name() -> None:
    with pytest.raises(FeatureError, match="'nope'"):
        resolve_catalogue("nope")


def test_features_doc_is_generated_from_the_definitions() -> None:
    from frisk.features.docs import render

    doc = Path(__file__).parents[3] / "docs" / "FEATURES.md"
    assert doc.read_text(encoding="utf-8") == render(resolve_catalogue("default")), (
        "docs/FEATURES.md is stale: run python -m frisk.features.docs"
    )
