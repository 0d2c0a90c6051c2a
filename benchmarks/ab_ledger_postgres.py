"""The PostgreSQL ledger's write path, this checkout against another, in CPU per decision:
``python -m benchmarks.ab_ledger_postgres --baseline ../main/src [--rounds 4] [--rate 300]``.

Decides payments once (``bench_ledger.decide``: a model trained on simulated days), then each
round runs what ``frisk serve`` asks of the ledger for each decision, in a process importing
frisk from one tree: ``--threads`` request threads sharing ``--rate`` decisions/s, each asking
``has_decision`` and then recording through the service's group commit (``DecisionRecorder``)
into ``open_ledger`` with the service's timeouts, on a fresh schema whose connections carry an
``application_name`` of their own. The trees alternate A B B A A B ..., so both see the same
load on a shared machine. Per round and as medians it prints the CPU of that schema's
PostgreSQL backends per decision (``/proc/<pid>/stat``: steadier than throughput here), the
round process's own CPU per decision, decisions per commit, the backends used and the load
average.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.bench_ledger import POSTGRES, decide
from benchmarks.bench_scaleout import _backends, _cpu_of

_WARM = 300  # decisions before the timed part: the pool's connections, prepared statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout's src/")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each tree")
    parser.add_argument("--rate", type=float, default=300.0, help="decisions/s offered")
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds a round")
    parser.add_argument("--threads", type=int, default=16, help="request threads")
    parser.add_argument("--postgres", default=POSTGRES)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a round's process
    args = parser.parse_args()
    if args.measure is not None:
        records = pickle.loads(args.measure.read_bytes())
        print(json.dumps(measure(records, args)))
        return
    if not 1 <= args.rounds <= 10 or args.seconds > 60:
        parser.error("keep the load bounded: 1-10 rounds of at most 60 s")
    count = _WARM + int(args.rate * args.seconds) + 1
    records = decide(14, 2000, count)
    own = Path(__file__).resolve().parents[1] / "src"
    trees = {"baseline": args.baseline.resolve(), "this": own}
    results: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
    with tempfile.TemporaryDirectory(prefix="frisk-ab-ledger-") as tmp:
        pickled = Path(tmp) / "records.pickle"
        pickled.write_bytes(pickle.dumps(records))
        order = ("baseline", "this")
        for n in range(args.rounds):
            for side in order if n % 2 == 0 else order[::-1]:
                got = _round(trees[side], pickled, args)
                results[side].append(got)
                print(f"round {n + 1} {side:<8} " + _line(got), flush=True)
    print(f"medians over {args.rounds} rounds, {args.rate:g} decisions/s offered:")
    for side in ("baseline", "this"):
        print(f"{side:<8} " + _line({k: _median(results[side], k) for k in results[side][0]}))
    for key in ("backend_us", "client_us"):
        base, this = _median(results["baseline"], key), _median(results["this"], key)
        print(f"{key}: {base:.0f} -> {this:.0f} ({this / base:.2f}x)")


def _median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def _line(m: dict[str, float]) -> str:
    return (
        f"PG backends {m['backend_us']:4.0f} us/decision, process {m['client_us']:4.0f} "
        f"us/decision, {m['per_commit']:.2f} per commit, {m['per_second']:.0f}/s, "
        f"{m.get('backends', 0):.0f} backends, load {m['load']:.1f}"
    )


def _round(src: Path, pickled: Path, args: argparse.Namespace) -> dict[str, float]:
    """One round in a process importing frisk from ``src``."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(root)])}
    command = [sys.executable, "-m", "benchmarks.ab_ledger_postgres", "--baseline", str(src)]
    command += ["--measure", str(pickled), "--postgres", args.postgres]
    command += ["--rate", str(args.rate), "--seconds", str(args.seconds)]
    command += ["--threads", str(args.threads)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(records: list[Any], args: argparse.Namespace) -> dict[str, float]:
    """The service's ledger calls for ``records`` at ``args.rate``: CPU per decision."""
    from frisk.engine.recorder import DecisionRecorder
    from frisk.store import open_ledger
    from frisk.store.postgres import StoreTimeouts

    application = f"frisk-ab-{uuid.uuid4().hex[:8]}"
    schema = f"frisk_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(args.postgres).update_query_dict(
        {"options": f"-csearch_path={schema}", "application_name": application}
    )
    ledger = open_ledger(url.render_as_string(hide_password=False), timeouts=StoreTimeouts())
    recorder = DecisionRecorder(ledger)
    try:
        _drive(ledger, recorder, records[:_WARM], args.rate, args.threads)
        commits, began = recorder.commits, time.monotonic()
        backends = _cpu_of(_backends(application))
        process = time.process_time()
        timed = records[_WARM:]
        _drive(ledger, recorder, timed, args.rate, args.threads)
        wall = time.monotonic() - began
        process = time.process_time() - process
        after = _cpu_of(_backends(application))
        backend = sum(cpu - backends.get(pid, 0.0) for pid, cpu in after.items())
        commits = recorder.commits - commits
    finally:
        recorder.close()
        ledger.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    n = len(timed)
    return {
        "backend_us": backend * 1e6 / n,
        "client_us": process * 1e6 / n,
        "per_commit": n / max(commits, 1),
        "per_second": n / wall,
        "load": os.getloadavg()[0],
        "backends": len(after),
    }


def _drive(ledger: Any, recorder: Any, records: list[Any], rate: float, threads: int) -> None:
    """``records`` from ``threads`` threads, the i-th started at ``i / rate`` s (or at once when
    behind): each one looked up, then recorded as the service does."""
    start = time.monotonic()
    counter = itertools.count()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                i = next(counter)
            if i >= len(records):
                return
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            record = records[i]
            try:
                if ledger.has_decision(record.transaction_id):
                    raise RuntimeError(f"{record.transaction_id} is recorded already")
                if recorder.record_decision(record) is not record:
                    raise RuntimeError(f"{record.transaction_id} was recorded by another")
            except BaseException as exc:
                errors.append(exc)
                return

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]


if __name__ == "__main__":
    main()
