"""Ledger bytes and write cost per decision: ``python -m benchmarks.bench_ledger``.

Trains a model on simulated days (default catalogue), decides the payments of the days after in
process (``ModelEngine`` with the ledger's empty policy, explanations on alerts, as ``frisk serve``
runs), and records each decision as the service does, in group commits of ``--batch``, into a
fresh SQLite file and a fresh PostgreSQL schema. Then prints per back end:

- bytes per decision: the ``decisions`` table with its indexes (SQLite: ``dbstat`` pages after
  ``VACUUM``; PostgreSQL: ``pg_total_relation_size`` after ``VACUUM`` of its non-empty
  partitions and of ``decision_ids``, the ids' table of migration 0006), the feature catalogues'
  table included, and the average stored size of each column;
- the write cost: CPU and wall time of ``record_decisions`` per decision (medians over batches),
  commit and fsync included;
- SQLite: the pages a decision writes to the WAL (each a system call and a page copied again at
  the checkpoint), counted in a second, untimed pass (``wal_pages``).

``--baseline <checkout>/src --rounds N`` compares with another checkout in the same run: the
decisions are made once, then each round records them with the baseline and with this checkout
(each in a process of its own, alternating), and the medians over rounds are printed with the
ratio this/baseline. It only uses the ``Ledger`` Protocol, so the baseline needs no change.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Measured:
    """One back end's figures (JSON-able: a round's process prints them)."""

    backend: str
    rows: int
    table_bytes: int
    columns: dict[str, float]
    write_us: float
    write_cpu_us: float
    wal_pages: float = 0.0  # SQLite: pages written to the WAL a decision

    @property
    def per_decision(self) -> float:
        return self.table_bytes / self.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--days", type=int, default=14, help="simulated days to train on")
    parser.add_argument("--payers", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=16, help="decisions per group commit")
    parser.add_argument("--postgres", default=POSTGRES, help="'' skips PostgreSQL")
    parser.add_argument("--baseline", type=Path, help="the src directory of a checkout to compare")
    parser.add_argument("--rounds", type=int, default=1, help="rounds with --baseline")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a round's process
    args = parser.parse_args()

    if args.measure is not None:
        records = pickle.loads(args.measure.read_bytes())
        print(json.dumps([vars(m) for m in measure(records, args.batch, args.postgres)]))
        return
    records = decide(args.days, args.payers, args.decisions)
    if args.baseline is None:
        report(measure(records, args.batch, args.postgres), records)
        return
    with tempfile.TemporaryDirectory(prefix="frisk-bench-ledger-") as tmp:
        pickled = Path(tmp) / "records.pickle"
        pickled.write_bytes(pickle.dumps(records))
        own = Path(__file__).resolve().parents[1] / "src"
        sides: dict[str, list[list[Measured]]] = {"baseline": [], "this": []}
        for n in range(args.rounds):
            for side, src in (("baseline", args.baseline.resolve()), ("this", own)):
                sides[side].append(_round(src, pickled, args))
                print(f"round {n + 1} {side}: " + _line(sides[side][-1]), flush=True)
    compare(sides, records)


def measure(records: list[Any], batch: int, postgres: str) -> list[Measured]:
    with tempfile.TemporaryDirectory(prefix="frisk-bench-ledger-") as tmp:
        results = [measure_sqlite(Path(tmp), records, batch)]
        if postgres:
            results.append(measure_postgres(postgres, records, batch))
    return results


def _round(src: Path, pickled: Path, args: argparse.Namespace) -> list[Measured]:
    """One round of ``measure`` in a process importing frisk from ``src``."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(root)])}
    command = [sys.executable, "-m", "benchmarks.bench_ledger", "--measure", str(pickled)]
    command += ["--batch", str(args.batch), "--postgres", args.postgres]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return [Measured(**m) for m in json.loads(done.stdout.strip().splitlines()[-1])]


def _line(results: list[Measured]) -> str:
    return "; ".join(
        f"{m.backend} {m.per_decision:.0f} B, {m.write_us:.0f} us wall, {m.write_cpu_us:.0f} us CPU"
        + (f", {m.wal_pages:.2f} WAL pages" if m.wal_pages else "")
        for m in results
    )


def compare(sides: dict[str, list[list[Measured]]], records: list[Any]) -> None:
    """Medians over rounds per side and back end, and the ratio this/baseline."""
    print(f"{len(records):,} decisions, {len(records[0].features)} features each")
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end")
    backends = [m.backend for m in sides["this"][0]]
    for i, backend in enumerate(backends):
        rows = []
        for label, field in (("B/decision", "per_decision"), ("write us wall", "write_us"),
                             ("write us CPU", "write_cpu_us"),
                             ("WAL pages", "wal_pages")):  # fmt: skip
            if field == "wal_pages" and not sides["this"][0][i].wal_pages:
                continue
            base = statistics.median(getattr(r[i], field) for r in sides["baseline"])
            this = statistics.median(getattr(r[i], field) for r in sides["this"])
            digits = 2 if field == "wal_pages" else 0
            rows.append(f"{label} {base:,.{digits}f} -> {this:,.{digits}f} ({this / base:.2f}x)")
        print(f"{backend:<10} " + ", ".join(rows))


def decide(days: int, payers: int, count: int) -> list[Any]:
    """``count`` decisions as the service records them, by a model trained on ``days``."""
    import polars as pl

    from frisk.data import write_table
    from frisk.data.simulator import SimulationConfig, simulate
    from frisk.engine import ModelEngine, ModelSource
    from frisk.engine.decider import body_hash, decision_record
    from frisk.models import save_model
    from frisk.models.pipeline import train_events
    from frisk.monitoring.retrain import point_in_time_labels
    from frisk.schema import Transaction
    from frisk.store import default_url, open_ledger
    from frisk.store.policy_source import open_ledger_policy

    began = time.perf_counter()
    extra = -(-count // payers) + 2
    config = SimulationConfig(days=days + extra, payers=payers, seed=7)
    table = simulate(config)
    cutoff = config.start + timedelta(days=days)
    model = train_events(table, end=cutoff)
    later = table.filter(pl.col("timestamp") >= cutoff).head(count)
    print(f"simulated and trained in {time.perf_counter() - began:.0f} s")
    with tempfile.TemporaryDirectory(prefix="frisk-bench-model-") as tmp:
        save_model(model, Path(tmp) / "model")
        # Warm, as a service that has been running: the payments before, with the labels known.
        history = Path(tmp) / "history.parquet"
        write_table(point_in_time_labels(table, None, cutoff), history)
        source = ModelSource(directory=Path(tmp) / "model")
        engine = ModelEngine(source, history=history).start()
        policy_ledger = open_ledger(default_url(Path(tmp)))
        engine.policy = open_ledger_policy(policy_ledger, model_catalogue(model)).live
        records = []
        for row in later.iter_rows(named=True):
            body = transaction_body(row)
            txn = Transaction.model_validate(body)
            started = time.perf_counter()
            verdict = engine.decide(txn)
            records.append(
                decision_record(txn, txn.model_dump(mode="json"), body_hash(txn), verdict, started)
            )
        policy_ledger.close()
    return records


def model_catalogue(model: Any) -> Any:
    from frisk.models.pipeline import model_catalogue as catalogue_of

    return catalogue_of(model)


_CORE = ("transaction_id", "amount", "currency", "payer_id", "payee_id", "device_id", "channel",
         "merchant_category", "payer_country", "payee_country")  # fmt: skip
_NOT_EXTRA = {*_CORE, "timestamp", "label", "label_timestamp", "label_source", "scenario"}


def transaction_body(row: dict[str, Any]) -> dict[str, Any]:
    body = {k: row[k] for k in _CORE if row.get(k) is not None}
    body["timestamp"] = row["timestamp"].isoformat()
    body["extra"] = {k: v for k, v in row.items() if k not in _NOT_EXTRA and v is not None}
    return body


def write(url: str, records: list[Any], batch: int) -> tuple[float, float]:
    """Median wall and CPU microseconds per decision of ``record_decisions`` in ``batch``es."""
    from frisk.store import open_ledger

    ledger = open_ledger(url)
    walls, cpus = [], []
    try:
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            wall, cpu = time.perf_counter(), time.thread_time()
            ledger.record_decisions(chunk)
            walls.append((time.perf_counter() - wall) * 1e6 / len(chunk))
            cpus.append((time.thread_time() - cpu) * 1e6 / len(chunk))
    finally:
        ledger.close()
    return statistics.median(walls), statistics.median(cpus)


_SQLITE_TABLES = ("decisions", "feature_catalogues")


def measure_sqlite(tmp: Path, records: list[Any], batch: int) -> Measured:
    import sqlite3

    url = f"sqlite:///{tmp / 'ledger.sqlite'}"
    wall, cpu = write(url, records, batch)
    wal_pages = _wal_pages(tmp / "wal.sqlite", records, batch)
    _archive_size(url, tmp / "archive", len(records))
    with sqlite3.connect(tmp / "ledger.sqlite") as conn:
        conn.execute("VACUUM")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema")}
        owned = [
            name
            for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_schema")
            if table in _SQLITE_TABLES
        ]
        marks = ",".join("?" * len(owned))
        averages_by_part: dict[str, float] = {}
        (pages,) = conn.execute(
            f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", owned
        ).fetchone()
        columns = [r[1] for r in conn.execute("PRAGMA table_info(decisions)")]
        averages = conn.execute(
            "SELECT " + ", ".join(f'AVG(LENGTH("{c}"))' for c in columns) + " FROM decisions"
        ).fetchone()
        (rows,) = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()
        for name, size in conn.execute(
            f"SELECT name, SUM(pgsize) FROM dbstat WHERE name IN ({marks}) GROUP BY name", owned
        ):
            averages_by_part[name] = size / max(rows, 1)
    assert "decisions" in names
    print("SQLite bytes per decision by table and index:", averages_by_part, file=sys.stderr)
    return Measured(
        "SQLite", rows, int(pages), dict(zip(columns, averages, strict=True)), wall, cpu, wal_pages
    )


def _wal_pages(file: Path, records: list[Any], batch: int) -> float:
    """Pages a decision writes to SQLite's WAL, in ``batch``es as ``write`` records them.

    A reader holds a snapshot from the first batch on, so no checkpoint restarts the WAL: every
    frame written after it stays, and the file's growth counts them (untimed: the checkpoints
    then try and copy nothing).
    """
    import sqlite3

    from frisk.store import open_ledger

    ledger = open_ledger(f"sqlite:///{file}")
    reader = sqlite3.connect(file, isolation_level=None)
    try:
        reader.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        ledger.record_decisions(records[:batch])
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM decisions").fetchone()  # a read mark in the WAL
        wal = file.with_name(file.name + "-wal")
        start = wal.stat().st_size
        for first in range(batch, len(records), batch):
            ledger.record_decisions(records[first : first + batch])
        (page,) = reader.execute("PRAGMA page_size").fetchone()
        frames = (wal.stat().st_size - start) / (page + 24)  # a frame: 24 B of header and a page
        reader.execute("COMMIT")
    finally:
        reader.close()
        ledger.close()
    return frames / max(1, len(records) - batch)


def _archive_size(url: str, to: Path, count: int) -> None:
    """Bytes per decision of the Parquet archive (on a copy: the ledger keeps its rows)."""
    import shutil

    from frisk.store import open_ledger

    source = Path(sa.make_url(url).database or "")
    copy = source.with_name("archived.sqlite")
    shutil.copy(source, copy)
    wal = source.with_name(source.name + "-wal")
    if wal.exists():
        shutil.copy(wal, copy.with_name(copy.name + "-wal"))
    ledger = open_ledger(f"sqlite:///{copy}")
    try:
        if not hasattr(ledger, "archive"):  # a checkout before the archive
            return
        ledger.archive(datetime.now(UTC) + timedelta(days=3650), to)
    finally:
        ledger.close()
    size = sum(p.stat().st_size for p in (to / "decisions").rglob("*.parquet"))
    print(
        f"Parquet archive (zstd): {size / count:.0f} B/decision ({count:,} in {size:,} B)",
        file=sys.stderr,
    )


@contextmanager
def _schema(url: str) -> Iterator[str]:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    schema = f"frisk_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield (
            sa.make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def measure_postgres(url: str, records: list[Any], batch: int) -> Measured:
    with _schema(url) as in_schema:
        wall, cpu = write(in_schema, records, batch)
        engine = sa.create_engine(in_schema, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
                tables = list(
                    conn.execute(
                        sa.text(
                            "SELECT c.oid::regclass::text FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
                            "AND (c.relname IN ('feature_catalogues', 'decision_ids') "
                            "OR c.relname LIKE 'decisions%')"
                        )
                    ).scalars()
                )
                # The day partitions created ahead and still empty are a fixed cost (~50 KB
                # each, their indexes' first pages), not a per-decision one.
                total = sum(
                    int(conn.execute(sa.text(f"SELECT pg_total_relation_size('{t}')")).scalar_one())
                    for t in tables
                    if conn.execute(sa.text(f"SELECT EXISTS (SELECT FROM {t})")).scalar_one()
                )
                columns = list(
                    conn.execute(
                        sa.text(
                            "SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND table_name = 'decisions' "
                            "ORDER BY ordinal_position"
                        )
                    ).scalars()
                )
                averages = conn.execute(
                    sa.text(
                        "SELECT "
                        + ", ".join(f'AVG(pg_column_size("{c}"))' for c in columns)
                        + " FROM decisions"
                    )
                ).one()
                rows = int(conn.execute(sa.text("SELECT COUNT(*) FROM decisions")).scalar_one())
        finally:
            engine.dispose()
    return Measured(
        "PostgreSQL",
        rows,
        total,
        {c: float(a or 0) for c, a in zip(columns, averages, strict=True)},
        wall,
        cpu,
    )


def report(results: list[Measured], records: list[Any]) -> None:
    alerts = sum(r.action != "allow" for r in records)
    print(
        f"{len(records):,} decisions, {len(records[0].features)} features each, "
        f"{alerts} alerts (with reasons)"
    )
    for m in results:
        print(
            f"{m.backend:<10} {m.per_decision:7.0f} B/decision (table + indexes, {m.rows:,} rows)"
            f"   write {m.write_us:6.0f} us wall, {m.write_cpu_us:5.0f} us CPU per decision"
        )
        sizes = ", ".join(f"{c} {v:.0f}" for c, v in m.columns.items() if v)
        print(f"           average column bytes: {sizes}")


if __name__ == "__main__":
    main()
