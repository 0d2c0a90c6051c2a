"""State stores side by side: ``python -m benchmarks.bench_state [--payers N --events N]``.

Starts its own ``redis-server`` on a free 127.0.0.1 port (no persistence; stopped by its PID at
the end), so that ``INFO commandstats`` counts this benchmark's commands only; ``--url`` uses a
running Redis instead (a fresh key prefix, deleted afterwards). Warms the default catalogue's
online features on simulated history in the in-process store and in Redis, then times
``update`` event by event on the following events, alternating the stores in chunks so that both
see the same load. Prints per store: client-side latency p50/p99; for Redis also the server's
time per event (the change of ``INFO commandstats`` usec over the timed events), round trips per
event (requests sent by redis-py's connections) and bytes per entity (``MEMORY USAGE`` of each
entity's keys, per entity key, over a sample). ``--instructions`` runs our redis-server under
valgrind's callgrind and prints the instructions it executed per timed event: a count that the
machine's load does not move, for A/B tests of the scripts (``PYTHONPATH=<tree>/src``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from frisk.data.simulator import SimulationConfig, simulate
from frisk.features import MemoryStore, OnlineFeatures, resolve_catalogue
from frisk.features.local_cluster import free_port, local_cluster
from frisk.features.stores.redis import RedisStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payers", type=int, default=300)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--events", type=int, default=1000, help="events timed after warm")
    parser.add_argument("--url", help="a running Redis (default: start one on 127.0.0.1)")
    parser.add_argument(
        "--cluster", action="store_true", help="start a 3-primary Redis Cluster and use it"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="run our redis-server under valgrind's callgrind and print the instructions it "
        "executes per timed event (the same count whatever else the machine does; latencies "
        "are then meaningless)",
    )
    args = parser.parse_args()
    if args.instructions and (args.url or args.cluster):
        raise SystemExit("--instructions counts a redis-server of our own: no --url, --cluster")
    counter = _Callgrind() if args.instructions else None
    with _cluster() if args.cluster else _redis(args.url, counter) as url:
        run(args, url, counter)


class _Callgrind:
    """Instructions executed by a redis-server under ``valgrind --tool=callgrind``, counted only
    between ``start`` and ``stop`` (``callgrind_control``)."""

    def __init__(self) -> None:
        if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
            raise SystemExit("--instructions needs valgrind (Debian's package valgrind)")
        self.root = Path(tempfile.mkdtemp(prefix="frisk-bench-callgrind-"))
        self.pid = 0

    def command(self, argv: list[str]) -> list[str]:
        out = f"--callgrind-out-file={self.root}/cg.%p"
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no", out, *argv]

    def _control(self, *flags: str) -> None:
        subprocess.run(
            ["callgrind_control", *flags, str(self.pid)], check=True, capture_output=True
        )

    def start(self) -> None:
        self._control("-i", "on")

    def stop(self) -> int:
        """Instructions counted since ``start``."""
        self._control("-i", "off")
        self._control("-d")
        total = 0
        for dump in self.root.glob("cg.*"):
            for line in dump.read_text().splitlines():
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
        shutil.rmtree(self.root, ignore_errors=True)
        return total


@contextmanager
def _cluster() -> Iterator[str]:
    """A 3-primary Redis Cluster on free 127.0.0.1 ports, its nodes stopped by their PIDs."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        raise SystemExit("redis-server and redis-cli are needed for --cluster")
    root = Path(tempfile.mkdtemp(prefix="frisk-bench-cluster-"))
    try:
        with local_cluster(server, cli, root) as ports:
            print(f"Redis Cluster on 127.0.0.1 ports {ports}")
            yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _redis(url: str | None, counter: _Callgrind | None = None) -> Iterator[str]:
    """``url``, or a redis-server of our own on a free 127.0.0.1 port, stopped by its PID (under
    callgrind with a ``counter``)."""
    if url:
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not on PATH: install it, or give --url")
    port = free_port()
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    if counter is not None:
        argv = counter.command(argv)
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if counter is not None:
        counter.pid = process.pid
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        client.close()
        print(f"redis-server (pid {process.pid}) on 127.0.0.1:{port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(args: argparse.Namespace, url: str, counter: _Callgrind | None = None) -> None:

    table = simulate(SimulationConfig(days=args.days, payers=args.payers, seed=11))
    catalogue = resolve_catalogue("default", table)
    history, timed = table.head(table.height - args.events), table.tail(args.events)
    events = list(
        timed.drop("label", "label_timestamp", "label_source", "scenario").iter_rows(named=True)
    )
    redis_store = RedisStore.connect(
        url, cluster=args.cluster, key_prefix=f"frisk-bench-{uuid.uuid4().hex[:8]}", timeout=30.0
    )
    sent = _count_requests()
    try:
        memory = OnlineFeatures(catalogue, MemoryStore())
        memory.warm(history, freeze_gc=False)
        remote = OnlineFeatures(catalogue, redis_store)
        began = time.perf_counter()
        remote.warm(history, freeze_gc=False)
        warm_seconds = time.perf_counter() - began

        stats_before, cpu_before = _server_usec(redis_store), _server_cpu(redis_store)
        requests_before = sent[0]
        timings: dict[str, list[float]] = {"memory": [], "redis": []}
        trips = _Trips(redis_store, sent)
        chunk = 100
        if counter is not None:
            counter.start()
        for start in range(0, len(events), chunk):
            part = events[start : start + chunk]
            order = [("memory", memory), ("redis", remote)]
            if (start // chunk) % 2:
                order.reverse()
            for name, online in order:
                hooks = (trips.start, trips.count) if name == "redis" else (None, None)
                timings[name] += _time(online.update, part, *hooks)
        instructions = counter.stop() if counter is not None else 0
        server_usec = _server_usec(redis_store) - stats_before
        server_cpu = _server_cpu(redis_store) - cpu_before
        round_trips = (sent[0] - requests_before) / len(events)
        per_entity = _bytes_per_entity(redis_store)
    finally:
        redis_store.clear()
        redis_store.close()

    print(
        f"warm: {history.height} events (Redis: {warm_seconds:.1f} s, "
        f"{history.height / warm_seconds:,.0f} events/s); timed: {len(events)} events, "
        f"{len(catalogue.names)} features"
    )
    for name, values in timings.items():
        p50, p99 = statistics.median(values), statistics.quantiles(values, n=100)[98]
        print(f"{name:>6}: update p50 {p50:8.1f} µs, p99 {p99:8.1f} µs (client side)")
    ratio = statistics.median(timings["redis"]) / statistics.median(timings["memory"])
    print(f"redis / memory, p50: {ratio:.1f}x")
    print(
        f" redis: server time {server_usec / len(events):.1f} µs per event (INFO commandstats), "
        f"{round_trips:.2f} {'requests (sent at once)' if args.cluster else 'round trips'} "
        f"per event"
    )
    print(f" redis: {trips.summary()}")
    if not args.url:  # our own server: all of its CPU is this benchmark's
        print(
            f" redis: server CPU {server_cpu * 1e6 / len(events):.1f} µs per event "
            f"(INFO cpu, user + sys, network included)"
        )
    if counter is not None:
        print(
            f" redis: {instructions / len(events):,.0f} instructions per event in redis-server "
            f"(callgrind; the latencies above are under valgrind)"
        )
    for space, size in per_entity.items():
        print(f" redis: {space}: {size:,.0f} bytes (MEMORY USAGE)")


def _time(
    function: Callable[[Any], Any],
    events: list[dict[str, Any]],
    before: Callable[[], None] | None = None,
    after: Callable[[], None] | None = None,
) -> list[float]:
    """µs of ``function`` on each event; ``before`` and ``after`` run around it, untimed."""
    clock = time.perf_counter_ns
    out = []
    for event in events:
        if before is not None:
            before()
        began = clock()
        function(event)
        out.append((clock() - began) / 1000)
        if after is not None:
            after()
    return out


class _Trips:
    """Requests per event, and those of events before which labels came due.

    A label takes effect at its arrival time: the first event after it takes the label from the
    queue and writes it to the label records of its transaction's entities. On one Redis the
    event's own script does it (the label sequence the store last saw moves by one per label);
    on a cluster the executor does, with round trips of its own (``due_labels``, then one per
    label), before the event's.
    """

    def __init__(self, store: RedisStore, sent: list[int]) -> None:
        self.sent = sent
        self.plain: list[int] = []  # requests of events with no label due
        self.with_labels = 0  # events before which labels came due
        self.labels = 0
        self.label_requests = 0  # requests of those events beyond one
        self._due = 0
        self._before = 0
        self._store = store
        self._seen: int | None = None
        due_labels = store.due_labels

        def counting(t: int) -> Any:
            found = due_labels(t)
            self._due += len(found)
            return found

        store.due_labels = counting  # type: ignore[method-assign]

    def start(self) -> None:
        """Before an event."""
        self._due, self._before = 0, self.sent[0]
        self._seen = self._store._seen

    def count(self) -> None:
        """After it: its requests, to the event or to the labels that came due."""
        requests = self.sent[0] - self._before
        before, after = self._seen, self._store._seen
        if before is not None and after is not None and 0 < after - before < 1_000_000:
            self._due += after - before  # one Redis: labels applied by the event's script
        if self._due:
            self.with_labels += 1
            self.labels += self._due
            self.label_requests += requests - 1
        else:
            self.plain.append(requests)

    def summary(self) -> str:
        plain = self.plain
        said = (
            f"{statistics.fmean(plain):.2f} round trips per event with no label due "
            f"({len(plain)} events, min {min(plain)}, max {max(plain)})"
            if plain
            else "no event without a label due"
        )
        if self.labels:
            said += (
                f"; {self.labels} labels came due before {self.with_labels} events: "
                f"{self.label_requests} more round trips "
                f"({self.label_requests / self.labels:.2f} per label)"
            )
        else:
            said += "; no label came due"
        return said


def _count_requests() -> list[int]:
    """Count the requests redis-py's connections send (one per round trip, pipelines too)."""
    from redis.connection import Connection

    sent = [0]
    original = Connection.send_packed_command

    def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        original(self, command, check_health)

    Connection.send_packed_command = counting  # type: ignore[method-assign]
    return sent


# Commands the store's scripts call: INFO commandstats counts them inside their EVALSHA's time
# and again on their own line, so only the scripts' lines and the other commands are summed.
_IN_SCRIPTS = {
    "del", "exists", "expire", "get", "hdel", "hget", "hmget", "hset", "incr", "mget", "pexpire",
    "set", "time", "zadd", "zrange", "zrangebyscore", "zremrangebyrank", "zremrangebyscore",
    "zscore",
}  # fmt: skip


def _per_node(store: RedisStore, section: str) -> list[dict[str, Any]]:
    """``INFO section`` of each server (a cluster answers per node)."""
    client = store.client
    if not store.cluster:
        return [client.info(section)]
    return list(client.info(section, target_nodes=client.PRIMARIES).values())


def _server_usec(store: RedisStore) -> float:
    return float(
        sum(
            v["usec"]
            for stats in _per_node(store, "commandstats")
            for k, v in stats.items()
            if k.startswith("cmdstat_") and k.removeprefix("cmdstat_") not in _IN_SCRIPTS
        )
    )


def _server_cpu(store: RedisStore) -> float:
    return sum(
        float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]) for cpu in _per_node(store, "cpu")
    )


def _bytes_per_entity(store: RedisStore, sample: int = 200) -> dict[str, float]:
    sizes: dict[str, list[int]] = {}
    client = store.client
    for key in client.scan_iter(match=f"{store.prefix}:{{key:*}}", count=1000):
        name = key.decode()
        if name.endswith(":tx"):
            continue
        space = name.split("{", 1)[1].split(":", 2)[1]
        found = sizes.setdefault(space, [])
        if len(found) >= sample:
            continue
        found.append(
            int(client.memory_usage(name) or 0) + int(client.memory_usage(name + ":tx") or 0)
        )
    sizes = {f"entity {space}": values for space, values in sizes.items()}
    for key in client.scan_iter(match=f"{store.prefix}:{{applied:*", count=1000):
        found = sizes.setdefault("applied marker, per transaction (a day)", [])
        found.append(int(client.memory_usage(key) or 0))
        if len(found) >= sample:
            break
    return {space: statistics.fmean(values) for space, values in sorted(sizes.items()) if values}


if __name__ == "__main__":
    main()
