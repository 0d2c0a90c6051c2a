"""The archive round trip at volume: ``python -m benchmarks.archive_round_trip``.

1. Trains a model on simulated days (default catalogue) and decides ``--templates`` payments of
   the days after, recording them (with their labels) in a fresh SQLite ledger.
2. Copies them in SQL to ``--decisions`` decisions over ``--days`` days (new ids, shifted times,
   the same packed features, packed records and labels; a packed record takes its transaction's
   id and time from the row's): a ledger of one million decisions in about a minute.
3. Before archiving: ``frisk ledger stats``; a rule backtest over the days around the archive
   date (what ``POST /v1/rules/backtest`` computes); the retraining inputs (the ledger's
   transactions labelled as of a cut-off); a challenger trained on a window of them.
4. Archives the first half (``Ledger.archive``) while a scoring thread decides new payments and
   records them through the service's group commit, paced at ``--rate`` a second; records the
   latency of each (decide + durable record) during the archive and during as long before it.
5. After: stats again (the ledger shrinks), and the backtest, retraining inputs and challenger
   read through the archive: each must equal its value before.

Prints every figure; exits non-zero if a result differs or a live decision failed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.bench_ledger import transaction_body


@dataclass
class Live:
    """What the scoring thread saw."""

    latencies: list[tuple[float, float]] = field(default_factory=list)  # (at, seconds)
    errors: list[str] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=20, help="days the decisions span")
    parser.add_argument("--templates", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0, help="live decisions a second")
    parser.add_argument("--window", type=int, default=4, help="days the backtest reads")
    args = parser.parse_args()

    from frisk.data import write_table
    from frisk.data.simulator import SimulationConfig, simulate
    from frisk.engine import ModelEngine, ModelSource
    from frisk.engine.recorder import DecisionRecorder
    from frisk.models import save_model
    from frisk.models.pipeline import model_catalogue, train_events
    from frisk.monitoring.retrain import point_in_time_labels
    from frisk.store import default_url, open_ledger

    work = Path(tempfile.mkdtemp(prefix="frisk-archive-bench-"))
    began = time.perf_counter()
    config = SimulationConfig(days=14, payers=2000, seed=7)
    table = simulate(config)
    cutoff = config.start + timedelta(days=10)
    model = train_events(table, end=cutoff)
    save_model(model, work / "model")
    history = work / "history.parquet"
    write_table(point_in_time_labels(table, None, cutoff), history)
    engine = ModelEngine(ModelSource(directory=work / "model"), history=history).start()
    import polars as pl

    later = table.filter(pl.col("timestamp") >= cutoff)
    templates, live_rows = later.head(args.templates), later.slice(args.templates)
    print(f"trained and warmed in {time.perf_counter() - began:.0f} s; work dir {work}")

    ledger = open_ledger(default_url(work))
    records, labels = [], []
    for row in templates.iter_rows(named=True):
        record = _decide(engine, transaction_body(row))
        records.append(record)
        if row["label"] == 1 and row["label_timestamp"] is not None:
            labels.append((row["transaction_id"], row["label_timestamp"]))
    ledger.record_decisions(records)
    from frisk.store import LabelWrite

    ledger.set_labels([LabelWrite(t, "fraud", at, "chargeback") for t, at in labels], actor="bench")
    t0 = min(r.event_time for r in records).replace(hour=0, minute=0, second=0, microsecond=0)
    began = time.perf_counter()
    copies = _amplify(ledger, args.decisions, args.templates, args.days)
    print(
        f"{args.decisions:,} decisions ({copies} copies of {args.templates:,} real ones) and "
        f"their labels written in {time.perf_counter() - began:.0f} s"
    )
    _stats(ledger, "before")

    boundary = t0 + timedelta(days=args.days // 2)
    window = (boundary - timedelta(days=args.window // 2), boundary + timedelta(days=1))
    catalogue = model_catalogue(model)
    before = _results(ledger, None, window, boundary, catalogue, model)

    recorder = DecisionRecorder(ledger)
    live = Live()
    stop = threading.Event()
    scorer = threading.Thread(
        target=_score, args=(engine, recorder, live_rows, args.rate, live, stop), daemon=True
    )
    scorer.start()
    time.sleep(15)  # as long a stretch before the archive, for comparison
    archive_began = time.time()
    result = ledger.archive(boundary, work / "archive")
    archive_ended = time.time()
    time.sleep(2)
    stop.set()
    scorer.join()
    recorder.close()
    print(
        f"archived {result.rows['decisions']:,} decisions, {result.rows['labels']:,} labels of "
        f"{len(result.days)} days into {len(result.parts)} parts in {result.seconds:.0f} s"
    )
    _live_report(live, archive_began, archive_ended)
    _stats(ledger, "after")

    after = _results(ledger, work / "archive", window, boundary, catalogue, model)
    failed = bool(live.errors)
    for name in before:
        same = _same(before[name], after[name])
        print(f"{name}: {'same' if same else 'DIFFERENT'} before and after archiving")
        failed |= not same
    ledger.close()
    sys.exit(1 if failed else 0)


def _decide(engine: Any, body: dict[str, Any]) -> Any:
    from frisk.engine.decider import body_hash, decision_record
    from frisk.schema import Transaction

    txn = Transaction.model_validate(body)
    started = time.perf_counter()
    verdict = engine.decide(txn)
    recorded = txn.model_dump(mode="json")
    return decision_record(txn, recorded, body_hash(txn), verdict, started)


def _amplify(ledger: Any, total: int, templates: int, days: int) -> int:
    """Copies of the recorded decisions (and labels) in SQL, spread over ``days``."""
    import sqlalchemy as sa

    copies = -(-total // templates) - 1
    # Copy n is the originals moved on by n % days days and n // days seconds (microseconds kept).
    shifted = (
        "datetime(d.event_time, '+' || (k.n % :days) || ' days', '+' || (k.n / :days) || "
        "' seconds') || substr(d.event_time, 20)"
    )
    new_id = "'c' || k.n || '-' || d.transaction_id"
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.text(
                f"""
                WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < :copies)
                INSERT INTO decisions (transaction_id, body_hash, event_time, "transaction",
                    score, risk_score, tier, action, reasons, model_version, timings,
                    created_at, degraded, policy, payer_id, payee_id, catalogue_id,
                    feature_values, record, amount)
                SELECT {new_id}, d.body_hash, {shifted},
                    json_set(d."transaction", '$.transaction_id', {new_id},
                        '$.timestamp', replace({shifted}, ' ', 'T') || '+00:00'),
                    d.score, d.risk_score, d.tier, d.action, d.reasons, d.model_version,
                    d.timings, d.created_at, d.degraded, d.policy, d.payer_id, d.payee_id,
                    d.catalogue_id, d.feature_values, d.record, d.amount
                FROM decisions AS d, k
                """
            ),
            {"copies": copies, "days": days},
        )
        conn.execute(
            sa.text(
                """
                WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < :copies)
                INSERT INTO labels (transaction_id, label, label_timestamp, source, updated_by,
                    updated_at)
                SELECT 'c' || k.n || '-' || l.transaction_id, l.label, e.event_time, l.source,
                    l.updated_by, l.updated_at
                FROM labels AS l, k JOIN decisions AS e
                    ON e.transaction_id = 'c' || k.n || '-' || l.transaction_id
                """
            ),
            {"copies": copies},
        )
    return copies + 1


def _stats(ledger: Any, when: str) -> None:
    print(f"ledger {when} archiving:")
    for t in ledger.stats():
        if t.table in ("decisions", "labels", "label_history", "reviews"):
            per = "" if t.bytes_per_row is None else f" ({t.bytes_per_row:,.0f} B/row)"
            oldest = "-" if t.oldest is None else t.oldest.date().isoformat()
            print(f"  {t.table:<14} {t.rows:>10,} rows {t.bytes:>15,} B{per}, oldest {oldest}")
    path = Path(str(ledger.engine.url.database))
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    print(f"  file {size:,} B (freed pages are reused; VACUUM returns them to the disk)")


def _results(
    ledger: Any,
    archive: Path | None,
    window: tuple[datetime, datetime],
    boundary: datetime,
    catalogue: Any,
    model: Any,
) -> dict[str, Any]:
    """The backtest, the retraining inputs and a challenger's scores, read with ``archive``."""
    from frisk.monitoring.retrain import ledger_history, point_in_time_labels, retrain
    from frisk.policy import Policy, Rule
    from frisk.policy.backtest import backtest_summary
    from frisk.policy.history import recorded_frame
    from frisk.store.policy_source import decision_variables

    out: dict[str, Any] = {}
    began = time.perf_counter()
    variables = decision_variables(catalogue)
    rows = ledger.decisions_with_labels(start=window[0], end=window[1], archive=archive)
    frame = recorded_frame(rows, variables)
    rule = Rule("bench", "amount > 500.0 && txn_count_by_payer_24h >= 2.0", "review")
    out["backtest"] = backtest_summary(
        frame, Policy([rule], variables), now=datetime(2030, 1, 1, tzinfo=UTC)
    )
    print(
        f"  backtest over {len(rows):,} decisions ({window[0]:%Y-%m-%d}..{window[1]:%Y-%m-%d}):"
        f" {out['backtest']['totals']} in {time.perf_counter() - began:.0f} s"
    )
    began = time.perf_counter()
    cut = boundary + timedelta(days=1)
    table = point_in_time_labels(
        ledger_history(ledger, before=cut, archive=archive), ledger, cut, archive
    )
    out["retrain inputs"] = table
    print(
        f"  retraining inputs: {table.height:,} transactions in {time.perf_counter() - began:.0f} s"
    )
    began = time.perf_counter()
    recent = table.filter(pl_col("timestamp") >= boundary - timedelta(days=3))
    trained = retrain(recent, model, cutoff=cut, eval_days=1.0, mode="never")
    out["retrain"] = (trained.challenger_score, trained.champion_score)
    print(
        f"  retrain on {recent.height:,} of them: challenger {trained.challenger_score:.6f}, "
        f"champion {trained.champion_score} in {time.perf_counter() - began:.0f} s"
    )
    return out


def pl_col(name: str) -> Any:
    import polars as pl

    return pl.col(name)


def _same(a: Any, b: Any) -> bool:
    import polars as pl

    if isinstance(a, pl.DataFrame):
        return a.equals(b)
    return bool(a == b)


def _score(engine: Any, recorder: Any, rows: Any, rate: float, live: Live, stop: Any) -> None:
    """Decide and record the next payment every 1/rate s until ``stop``; new ids each round."""
    interval = 1.0 / rate
    bodies = [transaction_body(r) for r in rows.iter_rows(named=True)]
    n, due = 0, time.perf_counter()
    while not stop.is_set():
        body = dict(bodies[n % len(bodies)])
        body["transaction_id"] = f"live-{n}-{body['transaction_id']}"
        # Payments of now: outside the days the backtest and retraining compare.
        body["timestamp"] = datetime.now(UTC).isoformat()
        began = time.perf_counter()
        try:
            recorder.record_decision(_decide(engine, body))
        except Exception as exc:  # counted and shown: the run fails on any
            live.errors.append(repr(exc))
        live.latencies.append((time.time(), time.perf_counter() - began))
        n += 1
        due += interval
        time.sleep(max(0.0, due - time.perf_counter()))


def _live_report(live: Live, began: float, ended: float) -> None:
    def summary(values: list[float]) -> str:
        if not values:
            return "none"
        values = sorted(values)
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        return (
            f"{len(values):,} decisions, p50 {statistics.median(values) * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, max {values[-1] * 1000:.1f} ms"
        )

    during = [s for at, s in live.latencies if began <= at <= ended]
    before = [s for at, s in live.latencies if at < began]
    print(f"live scoring before the archive: {summary(before)}")
    print(f"live scoring during the archive: {summary(during)}; errors {len(live.errors)}")
    for error in live.errors[:5]:
        print(f"  {error}")


if __name__ == "__main__":
    main()
