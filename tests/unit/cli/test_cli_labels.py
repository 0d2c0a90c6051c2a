"""``frisk labels import``: labels files and event files, into the ledger or through a service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from frisk.cli import app
from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import write_table
from frisk.store import DecisionRecord, default_url, open_ledger

if TYPE_CHECKING:
    from frisk.store import SqlLedger

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FRISK_DATABASE_URL", raising=False)
    return tmp_path / "home"


def ledger_of(home: Path) -> SqlLedger:
    return open_ledger(default_url(home))


def decided(ledger: SqlLedger, *ids: str) -> None:
    for txn in ids:
        ledger.record_decision(
            DecisionRecord(
                transaction_id=txn,
                body_hash="0" * 64,
                event_time=T0,
                transaction={"transaction_id": txn},
                features={},
                score=0.5,
                risk_score=50,
                tier="medium",
                action="review",
                reasons=[],
                model_version="m",
                timings={},
                created_at=T0,
            )
        )


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["labels", "import", *args])
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def test_a_chargeback_file_with_its_own_column_names(home: Path, tmp_path: Path) -> None:
    ledger = ledger_of(home)
    decided(ledger, "t1", "t2")
    ledger.set_label("t2", "legit", label_timestamp=T0, source="review", actor="a")
    ledger.close()
    chargebacks = tmp_path / "cb.csv"
    chargebacks.write_text(
        "ref,outcome,reported\n"
        "t1,fraud,2024-03-05 10:00:00\n"
        "t2,FRAUD,2024-03-06 10:00:00\n"
        "t9,1,2024-03-07 10:00:00\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "cb.toml"
    mapping.write_text(
        '[columns]\ntransaction_id = "ref"\nlabel = "outcome"\nlabel_timestamp = "reported"\n'
        '[options]\ntimestamp_format = "%Y-%m-%d %H:%M:%S"\nlabel_source = "chargeback"\n',
        encoding="utf-8",
    )
    code, out = run("--events", str(chargebacks), "--mapping", str(mapping))
    assert code == 0, out
    assert "3 labels from 3 rows (0 skipped): 1 new, 1 changed, 0 unchanged, 1 unknown" in out
    ledger = ledger_of(home)
    t2 = ledger.get_label("t2")
    assert t2 is not None
    assert (t2.label, t2.source, t2.label_timestamp) == (
        "fraud",
        "chargeback",
        datetime(2024, 3, 6, 10, tzinfo=UTC),
    )
    assert [h.previous for h in ledger.label_history("t2")] == [None, "legit"]
    assert ledger.get_label("t9") is not None
    ledger.close()
    # The same file again changes nothing.
    code, out = run("--events", str(chargebacks), "--mapping", str(mapping))
    assert "0 new, 0 changed, 2 unchanged, 1 unknown" in out  # t9 is still unknown


def test_pandas_written_labels_and_empty_cells(home: Path, tmp_path: Path) -> None:
    """1.0/0.0 are labels; an empty label cell is "no label yet": skipped and counted."""
    ledger = ledger_of(home)
    decided(ledger, "t1", "t2", "t3")
    ledger.close()
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "transaction_id,label,label_timestamp\n"
        "t1,1.0,2024-03-05T10:00:00Z\n"
        "t2,0.0,2024-03-05T10:00:00Z\n"
        "t3,,\n",
        encoding="utf-8",
    )
    code, out = run("--events", str(labels))
    assert code == 0, out
    assert "2 labels from 3 rows (1 skipped): 2 new" in out
    ledger = ledger_of(home)
    assert [getattr(ledger.get_label(t), "label", None) for t in ("t1", "t2", "t3")] == [
        "fraud",
        "legit",
        None,
    ]
    ledger.close()


def test_bad_rows_are_named_and_refuse_the_file_unless_skipped(home: Path, tmp_path: Path) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "transaction_id,label,label_timestamp\n"
        "a,fraud,2024-03-05T10:00:00Z\n"
        "b,perhaps,2024-03-05T10:00:00Z\n"
        f"c,legit,{future}\n"
        ",fraud,2024-03-05T10:00:00Z\n",
        encoding="utf-8",
    )
    code, out = run("--events", str(labels))
    assert code != 0
    assert "row 2, column 'label'" in out
    assert "row 3, column 'label_timestamp'" in out
    assert "in the future" in out
    assert "row 4, column 'transaction_id'" in out
    ledger = ledger_of(home)
    assert ledger.get_label("a") is None
    ledger.close()
    code, out = run("--events", str(labels), "--skip-invalid")
    assert code == 0, out
    assert "1 labels from 4 rows (3 skipped): 0 new, 0 changed, 0 unchanged, 1 unknown" in out
    assert "skipped row 2, column 'label'" in out


def test_an_event_file_with_labels(home: Path, tmp_path: Path) -> None:
    table = simulate(SimulationConfig(days=3, payers=40, seed=5, fraud_rate=0.05))
    events = tmp_path / "sim.parquet"
    write_table(table, events)
    arrived = table.filter(table["label_timestamp"].is_not_null())
    code, out = run("--events", str(events), "--source", "sim")
    assert code == 0, out
    assert f"{arrived.height:,} labels from {table.height:,} rows" in out
    assert f"{arrived.height:,} unknown ids" in out  # nothing was decided in this ledger
    ledger = ledger_of(home)
    first = arrived.row(0, named=True)
    stored = ledger.get_label(first["transaction_id"])
    assert stored is not None
    assert stored.label == ("fraud" if first["label"] == 1 else "legit")
    assert stored.label_timestamp == first["label_timestamp"]
    ledger.close()


def test_a_file_without_ids_or_labels_is_refused(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("id,verdict\n1,fraud\n", encoding="utf-8")
    code, out = run("--events", str(bad))
    assert code != 0
    assert "no transaction_id column" in out


def test_an_empty_file_is_refused_as_the_importer_refuses_it(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "labels.csv"
    empty.write_bytes(b"")
    code, out = run("--events", str(empty))
    assert code != 0
    assert "empty file" in out


def test_a_jsonl_labels_file_is_typed_from_all_its_rows(home: Path, tmp_path: Path) -> None:
    # The first rows name no source: a type taken from them alone would refuse the later ones.
    rows = [
        f'{{"transaction_id": "t{i}", "label": "legit", "label_source": null}}' for i in range(150)
    ]
    rows.append('{"transaction_id": "t150", "label": "fraud", "label_source": "chargeback"}')
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, out = run("--events", str(labels))
    assert code == 0, out
    assert "151 labels from 151 rows (0 skipped)" in out
    ledger = ledger_of(home)
    last = ledger.get_label("t150")
    assert last is not None
    assert (last.label, last.source) == ("fraud", "chargeback")
    ledger.close()


def test_api_needs_a_key(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRISK_API_KEY", raising=False)
    labels = tmp_path / "l.csv"
    labels.write_text("transaction_id,label\na,fraud\n", encoding="utf-8")
    code, out = run("--events", str(labels), "--api", "http://127.0.0.1:9")
    assert code != 0
    assert "FRISK_API_KEY" in out
