"""``frisk retrain``: point-in-time labels, the promotion rules, registration and reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import write_table
from frisk.models import TrainConfig
from frisk.models.pipeline import train_events
from frisk.models.registry import Registry
from frisk.monitoring.retrain import decide, ledger_history, point_in_time_labels
from frisk.store import DecisionRecord, default_url, open_ledger

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_auto_promotes_only_past_the_margin() -> None:
    assert decide("auto", 0.50, 0.52, 0.01, "ap")[0]
    assert not decide("auto", 0.50, 0.51, 0.01, "ap")[0]  # exactly the margin is not past it
    assert not decide("auto", 0.50, 0.505, 0.01, "ap")[0]
    assert not decide("auto", 0.50, 0.40, 0.0, "ap")[0]
    promoted, why = decide("auto", None, 0.3, 0.01, "ap")
    assert promoted
    assert "no champion" in why
    assert not decide("auto", 0.5, float("nan"), 0.01, "ap")[0]


def test_never_and_force_ignore_the_scores() -> None:
    assert not decide("never", 0.1, 0.9, 0.0, "ap")[0]
    assert decide("force", 0.9, 0.1, 0.0, "ap")[0]


def _table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "transaction_id": ["a", "b", "c", "d"],
            "timestamp": [
                T0,
                T0 + timedelta(days=1),
                T0 + timedelta(days=2),
                T0 + timedelta(days=5),
            ],
            "amount": [1.0, 2.0, 3.0, 4.0],
            "currency": ["EUR"] * 4,
            "payer_id": ["p"] * 4,
            "payee_id": ["q"] * 4,
            "label": [1, 1, 0, 1],
            "label_timestamp": [T0 + timedelta(days=1), T0 + timedelta(days=9), None, None],
        },
        schema_overrides={
            "label": pl.Int8,
            "timestamp": pl.Datetime("us", "UTC"),
            "label_timestamp": pl.Datetime("us", "UTC"),
        },
    )


def test_labels_are_those_known_before_the_cutoff(tmp_path: Path) -> None:
    ledger = open_ledger(default_url(tmp_path))
    cutoff = T0 + timedelta(days=4)
    # c: a fraud label that arrived before the cut-off; b: one that arrived after it.
    ledger.set_label("c", "fraud", label_timestamp=T0 + timedelta(days=3), source="t", actor="t")
    ledger.set_label("b", "legit", label_timestamp=T0 + timedelta(days=5), source="t", actor="t")
    labelled = point_in_time_labels(_table(), ledger, cutoff)
    ledger.close()
    got = dict(zip(labelled["transaction_id"], labelled["label"], strict=True))
    # a: the file's label arrived in time; b: arrived after the cut-off (file and ledger), so
    # legit as then known; c: the ledger's fraud label; d: after the cut-off, not in the table.
    assert got == {"a": 1, "b": 0, "c": 1}
    arrived = dict(zip(labelled["transaction_id"], labelled["label_timestamp"], strict=True))
    assert arrived["b"] is None
    assert arrived["c"] == T0 + timedelta(days=3)


def test_ledger_history_reads_recorded_transactions(tmp_path: Path) -> None:
    ledger = open_ledger(default_url(tmp_path))
    for i in range(3):
        when = T0 + timedelta(hours=i)
        ledger.record_decision(
            DecisionRecord(
                transaction_id=f"t{i}",
                body_hash="a" * 64,
                event_time=when,
                transaction={
                    "transaction_id": f"t{i}",
                    "timestamp": when.isoformat(),
                    "amount": 5.0 + i,
                    "currency": "EUR",
                    "payer_id": "p",
                    "payee_id": "q",
                    "extra": {"account_age_days": 10 + i},
                },
                features={},
                score=0.1,
                risk_score=1,
                tier="low",
                action="allow",
                reasons=[],
                model_version="m",
                timings={},
                created_at=datetime.now(UTC),
            )
        )
    table = ledger_history(ledger, before=T0 + timedelta(hours=2))
    ledger.close()
    assert table["transaction_id"].to_list() == ["t0", "t1"]
    assert table["account_age_days"].to_list() == [10, 11]
    assert table.schema["timestamp"] == pl.Datetime("us", "UTC")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("retrain")
    table = simulate(SimulationConfig(days=14, payers=300, seed=5, fraud_rate=0.03))
    events = root / "events.parquet"
    write_table(table, events)
    start = table["timestamp"].min()
    assert isinstance(start, datetime)
    champion = train_events(table, end=start + timedelta(days=6), config=TrainConfig())
    registry = Registry(root / "registry")
    version = registry.register(champion)
    registry.promote(version)
    return events, root / "registry", version


def _retrain(tmp_path: Path, history: tuple[Path, Path, str], *args: str) -> tuple[Registry, dict]:
    events, source, _ = history
    registry = tmp_path / "registry"
    import shutil

    shutil.copytree(source, registry)
    out = tmp_path / "retrain.json"
    result = CliRunner().invoke(
        app,
        [
            "retrain",
            "--events",
            str(events),
            "--no-ledger",
            "--registry",
            str(registry),
            "--eval-days",
            "4",
            "--json",
            str(out),
            *args,
        ],
        env={"FRISK_HOME": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    assert "challenger registered as" in result.output
    return Registry(registry), json.loads(out.read_text())


def test_never_registers_but_keeps_production(
    tmp_path: Path, history: tuple[Path, Path, str]
) -> None:
    registry, body = _retrain(tmp_path, history, "--promote", "never")
    assert registry.production() == history[2]
    assert body["promoted"] is False
    assert body["challenger"] in registry.versions()
    assert registry.report_path(body["challenger"]) is not None
    assert body["champion"] == history[2]
    assert {row["scorer"] for row in body["comparison"]} == {"model", f"champion {history[2]}"}
    metadata = registry.metadata(body["challenger"])
    assert metadata["retrain"]["champion"] == history[2]
    assert metadata["training"]["labels_as_of"] == body["cutoff"]


def test_auto_keeps_production_below_the_margin(
    tmp_path: Path, history: tuple[Path, Path, str]
) -> None:
    registry, body = _retrain(tmp_path, history, "--promote", "auto", "--margin", "1")
    assert body["promoted"] is False
    assert "does not beat" in body["reason"]
    assert registry.production() == history[2]


def test_force_promotes(tmp_path: Path, history: tuple[Path, Path, str]) -> None:
    registry, body = _retrain(tmp_path, history, "--promote", "force")
    assert body["promoted"] is True
    assert registry.production() == body["challenger"]
    assert registry.stages()[history[2]] == "archived"
