"""``frisk ledger archive`` on PostgreSQL: dropping whole days' partitions against deleting rows.

Two ledgers of the same ``--rows`` decisions over ``--days`` days (generated in SQL, packed as
the ledger packs them, each id in ``decision_ids`` through the table's trigger), in schemas of
their own on the same server: in one every day has its partition (the archive drops them), in the
other the days have none, so the rows sit in the default partition and the archive deletes them
in batches of ``--batch``, as every ledger did before migration 0006. Runs alternate; printed:
the median seconds of the whole archive and of its removal step (deletes, or detach + drop and
the ids' deletes), and their ratio.

    python benchmarks/partition_archive.py --rows 200000 --days 2 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import frisk.store.archive as archive_module
from frisk.store import SqlLedger, open_ledger
from frisk.store.decision_codec import iso_time, pack_record
from frisk.store.feature_catalogues import catalogues_of
from frisk.store.feature_codec import pack
from frisk.store.partitions import ensure_partitions

URL = os.environ.get("FRISK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _load(ledger: SqlLedger, rows: int, days: int, partitioned: bool) -> None:
    if partitioned:
        ensure_partitions(ledger.engine, today=T0.date(), ahead=days)
    catalogue = catalogues_of(ledger.engine).id_for(("amount", "txn_count_by_payer_1h"))
    step = days * 86400 / (rows + 1)
    record = pack_record(
        transaction_id="g",
        event_time=T0,
        body_hash="ab" * 32,
        transaction={
            "transaction_id": "g",
            "timestamp": iso_time(T0),
            "amount": 10.5,
            "currency": "EUR",
            "payer_id": "p1",
            "payee_id": "m1",
        },
        reasons=[],
        timings={"total": 1.0},
        policy={"decided_by": "model"},
    )
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                INSERT INTO decisions (transaction_id, event_time, score, risk_score, tier,
                    action, model_version, created_at, degraded, payer_id, payee_id,
                    catalogue_id, feature_values, record, amount)
                SELECT 'g' || lpad(i::text, 9, '0'), at, (i % 1000) / 1000.0, i % 100, 'low',
                    'allow', 'm-1', at + interval '1 second', false, 'p' || (i % 50000),
                    'm' || (i % 4000), :catalogue, :vector, :record, (i % 997) + 0.5
                FROM generate_series(1, :rows) AS i,
                    LATERAL (SELECT :t0 + i * make_interval(secs => :step) AS at) AS t
                """
            ),
            {
                "rows": rows,
                "catalogue": catalogue,
                "vector": pack([12.5, 3.0]),
                "record": record,
                "t0": T0,
                "step": step,
            },
        )
        conn.execute(sa.text("ANALYZE decisions"))


class _Removal:
    """Times the archive's removal step by part: ``_delete`` (rows, in batches), ``drop_day``
    (detach, count, drop) and ``_delete_ids`` (a dropped day's ids), as ``archive`` calls them."""

    NAMES = ("_delete", "drop_day", "_delete_ids")

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        self._saved = {name: getattr(archive_module, name) for name in self.NAMES}

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def __enter__(self) -> _Removal:
        def timed(name: str, function: Any) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.seconds[name] += time.perf_counter() - began

            return call

        for name, function in self._saved.items():
            setattr(archive_module, name, timed(name, function))
        return self

    def __exit__(self, *_: object) -> None:
        for name, function in self._saved.items():
            setattr(archive_module, name, function)


def _run(rows: int, days: int, batch: int, partitioned: bool) -> tuple[float, float, int, int]:
    """One archive of every loaded day: (seconds, removal seconds, decisions, days dropped)."""
    url = sa.make_url(URL)
    schema = f"frisk_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    in_schema = url.update_query_dict({"options": f"-csearch_path={schema}"})
    ledger = open_ledger(in_schema.render_as_string(hide_password=False))
    try:
        _load(ledger, rows, days, partitioned)
        sizes = {t.table: t for t in ledger.stats() if t.table in ("decisions", "decision_ids")}
        print(
            "  loaded: "
            + ", ".join(
                f"{n} {t.rows:,} rows {t.bytes_per_row or 0:,.0f} B/row" for n, t in sizes.items()
            ),
            flush=True,
        )
        with tempfile.TemporaryDirectory() as out, _Removal() as removal:
            result = ledger.archive(T0 + timedelta(days=days + 1), Path(out), batch=batch)
        left = ledger.stats()[0].rows
        assert left == 0, f"{left} decisions left"
        parts = ", ".join(f"{n} {v:.2f} s" for n, v in removal.seconds.items())
        print(f"  removal: {parts}", flush=True)
        return result.seconds, removal.total, result.rows["decisions"], len(result.dropped)
    finally:
        ledger.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    runs: dict[bool, list[tuple[float, float, int, int]]] = {True: [], False: []}
    for _ in range(args.repeat):
        for partitioned in (False, True):  # alternated: both see the same load
            runs[partitioned].append(_run(args.rows, args.days, args.batch, partitioned))
            total, removal, moved, dropped = runs[partitioned][-1]
            how = "drop partitions" if partitioned else "delete rows    "
            print(
                f"{how}: {moved:,} decisions archived in {total:.2f} s, "
                f"removal {removal:.2f} s, {dropped} partition(s) dropped",
                flush=True,
            )
    medians = {
        p: (statistics.median(r[0] for r in runs[p]), statistics.median(r[1] for r in runs[p]))
        for p in runs
    }
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for p, (total, removal) in medians.items():
        print(f"median {'drop' if p else 'delete'}: archive {total:.2f} s, removal {removal:.3f} s")
    (dt, dr), (pt, pr) = medians[False], medians[True]
    print(f"ratio delete/drop: archive {dt / pt:.2f}x, removal {dr / pr:.1f}x")


if __name__ == "__main__":
    main()
