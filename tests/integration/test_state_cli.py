"""``frisk features --engine online --state redis://...`` and ``frisk state info|rebuild`` against
the Redis on 127.0.0.1:6379, under a key prefix of their own (deleted afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.data.simulator import SimulationConfig, simulate
from frisk.features.stores.redis import REDIS_FORMAT
from frisk.features.testing import mismatches

REDIS_URL = os.environ.get("FRISK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def prefix(require_service: Callable[[str, str, int], None]) -> Iterator[str]:
    from frisk.features.stores.redis import RedisStore

    require_service("Redis", "127.0.0.1", 6379)
    name = f"frisk-test-cli-{uuid.uuid4().hex[:10]}"
    yield name
    store = RedisStore.connect(REDIS_URL, key_prefix=name)
    store.clear()
    store.close()


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_online_features_through_redis_equal_offline(tmp_path: Path, prefix: str) -> None:
    events = tmp_path / "events.parquet"
    simulate(SimulationConfig(days=4, payers=60, seed=5)).write_parquet(events)
    state = ["--state", REDIS_URL, "--prefix", prefix]
    online, offline = tmp_path / "online.parquet", tmp_path / "offline.parquet"
    said = _run(
        "features", "--events", str(events), "--out", str(online), "--engine", "online", *state
    )
    assert "events/s" in said
    _run("features", "--events", str(events), "--out", str(offline))
    assert mismatches(pl.read_parquet(offline), pl.read_parquet(online)) == []

    info = _run("state", "info", *state)
    assert f"key_prefix: {prefix}" in info
    assert f"format: {REDIS_FORMAT}" in info
    # A second run over state that already holds the events is refused, not counted twice.
    again = CliRunner().invoke(
        app,
        ["features", "--events", str(events), "--out", str(online), "--engine", "online", *state],
    )
    assert again.exit_code != 0
    assert "already holds events" in str(again.exception)

    rebuilt = _run("state", "rebuild", "--events", str(events), *state)
    assert "events learnt" in rebuilt
    assert "clock: " in _run("state", "info", *state)
