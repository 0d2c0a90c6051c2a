"""``frisk consume`` end to end: ``python -m benchmarks.bench_consume [--model DIR]``.

Trains a model on simulated payments (default catalogue) unless ``--model`` names one, then, on
the simulator's later payments, measures in the same run:

- ``score_many``: the batch path on the same events: point-in-time features for them (offline,
  with the history before them) and ``FraudModel.score_many``; printed for the scoring call
  alone and for features + scoring (``frisk score``'s work);
- ``decide_many``: the decision core in process, no broker: each body validated, then
  ``Decider.decide_many`` (online features, model, policy, reasons, one ledger commit per 128);
- for each broker (Redis Streams on 127.0.0.1:6379, NATS JetStream on 127.0.0.1:4222):
  ``frisk consume`` in its own process (fresh home and SQLite ledger, in-process feature
  state), warmed with ``--warmup`` payments, then a burst of ``--events`` payments published as
  fast as the producer can: decisions/s from the first publish to the last decision stored in
  the output stream, and the consumer lag (messages published and not yet acknowledged)
  sampled every 0.1 s: its peak, and how long the group took to drain it.

Each decision rate is also given per CPU-second of the deciding process (``decide_many``: this
one; a consumer: its process, every thread, from /proc): on a shared machine the wall-clock
rates measure the other tenants as much as Frisk, the CPU time far less. The brokers' own CPU
(redis-server, nats-server) is not in it.

``--rounds N`` repeats the broker runs (alternating) and prints medians. The load average is
printed beside every figure: on a shared two-core machine the numbers mean little without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"
FRISK = Path(sys.executable).parent / "frisk"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model directory (default: train one)")
    parser.add_argument("--events", type=int, default=10_000, help="payments in the burst")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--payers", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=14, help="simulated days to train on")
    parser.add_argument("--batch", type=int, default=256, help="consumer.batch")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--brokers", default="redis,nats")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frisk-bench-consume-") as tmp:
        run(Path(tmp), args)


def run(work: Path, args: argparse.Namespace) -> None:
    import polars as pl

    from benchmarks.bench_service import _body, _train
    from frisk.data.simulator import SimulationConfig, simulate

    wanted = args.warmup + args.events
    per_day = max(1, args.payers)
    extra_days = -(-wanted // per_day) + 1
    table = simulate(SimulationConfig(days=args.days + extra_days, payers=args.payers, seed=7))
    cutoff = table["timestamp"].min() + timedelta(days=args.days)
    history = table.filter(pl.col("timestamp") < cutoff)
    later = table.filter(pl.col("timestamp") >= cutoff).head(wanted)
    model = args.model or _train(work / "model", history)
    bodies = [_body(row) for row in later.iter_rows(named=True)]
    print(f"{len(bodies):,} payments ({args.warmup:,} warm-up, {args.events:,} measured)")

    measured = later.tail(args.events)
    score_s, features_s = score_many(model, pl.concat([history, later]), measured)
    print(
        f"score_many         {args.events / score_s:>9,.0f} decisions/s (scoring alone)   "
        f"{args.events / features_s:>7,.0f}/s with offline features   {load()}"
    )
    decide_s, decide_cpu = decide_many(model, work / "in-process", bodies, args.warmup)
    rate = args.events / decide_s
    print(
        f"decide_many        {rate:>9,.0f} decisions/s (in process), "
        f"{args.events / decide_cpu:,.0f} per CPU-second   {load()}"
    )

    rates: dict[str, list[float]] = {}
    for round_ in range(args.rounds):
        for broker in args.brokers.split(","):
            result = consume_run(broker, model, work / f"{broker}-{round_}", bodies, args)
            rates.setdefault(broker, []).append(result["rate"])
            print(
                f"{broker:<6} round {round_ + 1}   {result['rate']:>9,.0f} decisions/s end to end, "
                f"{args.events / result['cpu']:,.0f} per CPU-second of the consumer; "
                f"peak lag {result['peak_lag']:,.0f}, drained {result['drain']:.1f} s after the "
                f"burst was published ({result['publish']:.1f} s)   {load()}"
            )
    print()
    for broker, got in rates.items():
        median = statistics.median(got)
        print(
            f"{broker:<6} median {median:>9,.0f} decisions/s = "
            f"{median * decide_s / args.events:.2f} x decide_many, "
            f"{median * score_s / args.events:.3f} x score_many"
        )


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"(load {one:.1f}/{five:.1f})"


def score_many(model_dir: Path, table: Any, measured: Any) -> tuple[float, float]:
    """Seconds for ``score_many`` on ``measured``'s features, and for features + scoring."""
    import numpy as np

    from frisk.models import load_model
    from frisk.models.pipeline import featurize, model_catalogue

    model = load_model(model_dir)
    wanted = set(measured.get_column("transaction_id").to_list())
    rows = np.flatnonzero([i in wanted for i in table.get_column("transaction_id").to_list()])
    began = time.perf_counter()
    features = featurize(table, model_catalogue(model))  # each event sees its full history
    selected = features[rows]
    scored_at = time.perf_counter()
    model.score_many(selected)
    done = time.perf_counter()
    return done - scored_at, done - began


def decide_many(model: Path, home: Path, bodies: list[bytes], warmup: int) -> tuple[float, float]:
    """Seconds (wall, CPU) for the decision core to validate and decide the measured bodies."""
    import orjson

    from frisk.config import load_settings
    from frisk.engine import load_engine
    from frisk.engine.decider import Decider
    from frisk.schema import Transaction
    from frisk.store import default_url, open_ledger

    settings = load_settings(home=home)
    ledger = open_ledger(default_url(home))
    engine = load_engine(model, None, ledger=ledger, settings=settings)
    try:
        decider = Decider(ledger, engine)
        decider.decide_many([Transaction.parse(orjson.loads(b)) for b in bodies[:warmup]])
        began, cpu = time.perf_counter(), time.process_time()
        rest = bodies[warmup:]
        for start in range(0, len(rest), 256):
            chunk = [Transaction.parse(orjson.loads(b)) for b in rest[start : start + 256]]
            decider.decide_many(chunk)
        return time.perf_counter() - began, time.process_time() - cpu
    finally:
        engine.close()
        ledger.close()


def consume_run(
    broker: str, model: Path, home: Path, bodies: list[bytes], args: argparse.Namespace
) -> dict[str, float]:
    names = f"bench{uuid.uuid4().hex[:8]}"
    side = Redis(names) if broker == "redis" else Nats(names)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRISK_")}
    env.update(
        FRISK_HOME=str(home),
        FRISK_API__EVENT_BEHIND_DAYS="100000",  # simulated 2024 payments are old by now
        FRISK_CONSUMER__BROKER=side.url,
        FRISK_CONSUMER__INPUT=side.input,
        FRISK_CONSUMER__OUTPUT=side.output,
        FRISK_CONSUMER__GROUP="bench",
        FRISK_CONSUMER__BATCH=str(args.batch),
        FRISK_CONSUMER__WAIT_SECONDS="0.1",
    )
    process = subprocess.Popen(
        [str(FRISK), "consume", "--model", str(model)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        side.publish(bodies[: args.warmup])
        wait(lambda: side.outputs() >= args.warmup, process)
        began, cpu = time.perf_counter(), cpu_seconds(process.pid)
        side.publish(bodies[args.warmup :])
        published = time.perf_counter()
        peak = 0
        while side.outputs() < len(bodies):
            if process.poll() is not None:
                raise SystemExit(f"frisk consume exited with {process.returncode}")
            peak = max(peak, side.lag())
            time.sleep(0.1)
        done, cpu = time.perf_counter(), cpu_seconds(process.pid) - cpu
    finally:
        process.terminate()
        process.wait(timeout=60)
        side.cleanup()
    return {
        "rate": args.events / (done - began),
        "peak_lag": float(peak),
        "drain": done - published,
        "publish": published - began,
        "cpu": cpu,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait(condition: Any, process: subprocess.Popen[bytes], limit: float = 300.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if process.poll() is not None:
            raise SystemExit(f"frisk consume exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit("frisk consume did not start deciding")
        time.sleep(0.05)


class Redis:
    url = REDIS_URL

    def __init__(self, names: str) -> None:
        import redis

        self.input, self.output = f"{names}.payments", f"{names}.decisions"
        self.client = redis.Redis.from_url(self.url)

    def publish(self, bodies: list[bytes]) -> None:
        for start in range(0, len(bodies), 1000):
            pipe = self.client.pipeline(transaction=False)
            for body in bodies[start : start + 1000]:
                pipe.xadd(self.input, {"event": body})
            pipe.execute()

    def outputs(self) -> int:
        return int(self.client.xlen(self.output))

    def lag(self) -> int:
        for group in self.client.xinfo_groups(self.input):
            return int(group.get("lag") or 0) + int(group["pending"])
        return 0

    def cleanup(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.input.split('.')[0]}*", count=10_000))
        for start in range(0, len(keys), 1000):
            self.client.delete(*keys[start : start + 1000])
        self.client.close()


class Nats:
    url = NATS_URL

    def __init__(self, names: str) -> None:
        from frisk.streams.nats import stream_name

        self.input, self.output = f"{names}.payments", f"{names}.decisions"
        self.streams = (stream_name(self.input), stream_name(self.output))
        self.loop = asyncio.new_event_loop()
        self.nc: Any = self.loop.run_until_complete(self._connect())
        self.js = self.nc.jetstream()
        self.loop.run_until_complete(
            self.js.add_stream(name=self.streams[0], subjects=[self.input])
        )

    async def _connect(self) -> Any:
        import nats

        return await nats.connect(self.url)

    def publish(self, bodies: list[bytes]) -> None:
        async def send() -> None:
            futures = [await self.js.publish_async(self.input, body) for body in bodies]
            await asyncio.gather(*futures)

        self.loop.run_until_complete(send())

    def outputs(self) -> int:
        import nats.js.errors

        try:
            info = self.loop.run_until_complete(self.js.stream_info(self.streams[1]))
        except nats.js.errors.NotFoundError:
            return 0
        return int(info.state.messages)

    def lag(self) -> int:
        import nats.js.errors

        try:
            info = self.loop.run_until_complete(self.js.consumer_info(self.streams[0], "bench"))
        except nats.js.errors.NotFoundError:
            return 0
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    def cleanup(self) -> None:
        for name in self.streams:
            with contextlib.suppress(Exception):  # never created
                self.loop.run_until_complete(self.js.delete_stream(name))
        self.loop.run_until_complete(self.nc.close())
        self.loop.close()


if __name__ == "__main__":
    main()
