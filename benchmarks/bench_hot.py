"""Writers on hot entities: ``python -m benchmarks.bench_hot [--writers N --events N]``.

The case of a hot merchant: payments from many payers to three payees (five devices), all within
an hour, fed into one Redis by one writer process and then by ``--writers`` processes at once
(each taking the events of its share of the payers, in order), as fast as each can go. Starts its
own ``redis-server`` on a free 127.0.0.1 port (stopped by its PID; ``--url`` uses a running one,
under fresh key prefixes deleted afterwards). Prints for each run: events/s over the run,
client-side ``update`` p50/p99, changes of other writers applied per event, Redis server
time per event (``INFO commandstats``), and the ratio of the writers' events/s to the single
writer's. Checks that the hot payees' final counts and sums equal those of one sequential
in-process replay.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
import uuid
from typing import Any

import polars as pl

from benchmarks.bench_state import _redis, _server_usec
from frisk.features import MemoryStore, OnlineFeatures, resolve_catalogue
from frisk.features.stores.redis import RedisStore
from frisk.features.testing import hot_payee_events

_PROBED = (
    "txn_count_by_payee_24h",
    "amount_sum_by_payee_24h",
    "distinct_payer_by_payee_24h",
    "txn_count_by_payee_1h",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--payers", type=int, default=300)
    parser.add_argument("--url", help="a running Redis (default: start one on 127.0.0.1)")
    args = parser.parse_args()
    with _redis(args.url) as url:
        run(args, url)


def run(args: argparse.Namespace, url: str) -> None:
    table, payer = hot_payee_events(17, args.events, payers=args.payers)
    events = list(table.iter_rows(named=True))
    catalogue = resolve_catalogue("default", table)
    sequential = OnlineFeatures(catalogue, MemoryStore())
    for event in events:
        sequential.update(event)
    print(
        f"{len(events)} events of {args.payers} payers to 3 payees within an hour; "
        f"{len(catalogue.names)} features"
    )
    results = {}
    for writers in (1, args.writers):
        results[writers] = _round(url, table, [int(p) for p in payer], writers, sequential)
    one, many = results[1]["rate"], results[args.writers]["rate"]
    print(f"{args.writers} writers / 1 writer, events/s: {many / one:.2f}x")


def _round(
    url: str, table: pl.DataFrame, payer: list[int], writers: int, sequential: OnlineFeatures
) -> dict[str, float]:
    prefix = f"frisk-hot-{uuid.uuid4().hex[:8]}"
    probe_store = RedisStore.connect(url, key_prefix=prefix, timeout=30.0)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(writers + 1)
    queue: Any = context.Queue()
    try:
        before = _server_usec(probe_store)
        processes = [
            context.Process(
                target=_write, args=(url, prefix, table, payer, writers, w, barrier, queue)
            )
            for w in range(writers)
        ]
        for process in processes:
            process.start()
        barrier.wait()
        began = time.perf_counter()
        reports = [queue.get() for _ in processes]
        elapsed = time.perf_counter() - began
        for process in processes:
            process.join()
        server = _server_usec(probe_store) - before
        catalogue = sequential.catalogue
        shared = OnlineFeatures(catalogue, probe_store)
        last = table.row(table.height - 1, named=True)
        exact = True
        for payee in ("m0", "m1", "m2"):
            probe = {**last, "transaction_id": "probe", "payee_id": payee}
            want, got = sequential.peek(probe), shared.peek(probe)
            slots = [catalogue.names.index(name) for name in _PROBED]
            exact &= [got[s] for s in slots] == [want[s] for s in slots]
    finally:
        probe_store.clear()
        probe_store.close()
    latencies = [x for report in reports for x in report["latencies"]]
    n = len(latencies)
    rate = n / elapsed
    replayed = sum(report["replayed"] for report in reports)
    p50, p99 = statistics.median(latencies), statistics.quantiles(latencies, n=100)[98]
    print(
        f"{writers} writer{'s' if writers > 1 else ''}: {rate:,.0f} events/s; update p50 "
        f"{p50:.0f} µs, p99 {p99:.0f} µs; changes of others applied {replayed / n:.2f} per "
        f"event; Redis server time {server / n:.1f} µs "
        f"per event; hot payees' final state {'exact' if exact else 'WRONG'}"
    )
    return {"rate": rate}


def _write(
    url: str,
    prefix: str,
    table: pl.DataFrame,
    payer: list[int],
    writers: int,
    w: int,
    barrier: Any,
    queue: Any,
) -> None:
    store = RedisStore.connect(url, key_prefix=prefix, timeout=30.0)
    online = OnlineFeatures(resolve_catalogue("default", table), store)
    mine = [event for i, event in enumerate(table.iter_rows(named=True)) if payer[i] % writers == w]
    clock = time.perf_counter_ns
    latencies = []
    barrier.wait()
    for event in mine:
        began = clock()
        online.update(event)
        latencies.append((clock() - began) / 1000)
    queue.put(
        {
            "latencies": latencies,
            "replayed": getattr(store, "replayed", 0),
        }
    )
    store.close()


if __name__ == "__main__":
    main()
