"""Scale-out under load: ``python -m benchmarks.bench_scaleout [--model DIR] [--rounds N]``.

Serves one model (trained here on simulated data unless ``--model`` names one) four ways, each on
a fresh PostgreSQL schema (127.0.0.1:5432) and, with Redis, a Redis of the benchmark's own on a
free 127.0.0.1 port (so that its server time is this benchmark's alone), rate limits off:

- ``in-process``: ``frisk serve``, feature state in the process (the reference);
- ``redis 1w``: ``frisk serve`` with ``state.url`` (feature state, claims in Redis);
- ``redis 2w``: ``frisk serve --workers 2`` with ``state.url``;
- ``2 nodes``: two ``frisk serve`` on different ports sharing the ledger and Redis, each loaded
  by its own wrk with half the connections.

For each: sequential p50/p99 (one keep-alive connection, ``benchmarks.bench_service``'s
client), then decisions/s with wrk at 16 and at 64 connections, the non-2xx count, and Redis's
own time per decision (``INFO commandstats``, usec summed over commands, per request). Prints a
table with each configuration's ratio to ``redis 1w`` (throughput) and to ``in-process``
(sequential p50), and the load average of each run: on a shared two-core machine the numbers
mean little without it.

Then where the CPU went during each wrk run at 16 connections: CPU seconds of the frisk
processes (a supervisor and its workers), of this run's PostgreSQL backends (found by their
``application_name``), of the benchmark's Redis, of wrk, and of the whole machine
(``/proc/stat``), as cores (CPU seconds per second) and as ms per decision. "other" is the
machine's busy time that none of these account for (other jobs), "idle" what was left: when
idle is ~0, a second worker can only take CPU from the rest.

With ``--rounds N`` each configuration is measured N times, forwards then backwards, each
round's ratio of 2 workers to 1 is printed, and the tables show medians (failures summed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.bench_service import ROOT, Traffic, _free_port, _prepare

POSTGRES = os.environ.get(
    "FRISK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

# wrk: the next prepared body per request, its id prefixed by this run's tag (args[3]), so that
# runs against one ledger never replay each other's ids.
_LUA = r"""
local bodies = {}
local next_body = 0
local round = 0
local tag = "x"
function init(args)
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = args[2]
  tag = args[3]
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
request = function()
  next_body = next_body + 1
  if next_body > #bodies then
    next_body = 1
    round = round + 1
  end
  local body = bodies[next_body]:gsub(
    '"transaction_id":"', '"transaction_id":"' .. tag .. round .. '-', 1)
  return wrk.format("POST", "/v1/score", nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(99)))
end
"""


@dataclass
class Run:
    name: str
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    per_second: dict[int, float] = field(default_factory=dict)
    non2xx: int = 0
    socket_errors: int = 0
    # With workers: each worker's share of the decisions of the wrk run, by connections.
    shares: dict[int, list[float]] = field(default_factory=dict)
    redis_us: dict[int, float] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)
    cpu: dict[int, Cpu] = field(default_factory=dict)


@dataclass
class Cpu:
    """CPU seconds during one wrk run, by who spent them."""

    wall: float
    decisions: int
    frisk: float
    postgres: float
    redis: float
    wrk: float
    machine: float  # busy time of every core (/proc/stat), whoever spent it
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def other(self) -> float:
        return max(0.0, self.machine - self.frisk - self.postgres - self.redis - self.wrk)

    @property
    def idle(self) -> float:
        return max(0.0, self.cores * self.wall - self.machine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a model directory (default: train one)")
    parser.add_argument("--days", type=int, default=20, help="simulated days to train on")
    parser.add_argument("--payers", type=int, default=2000, help="simulated payers")
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measurements of each configuration, in alternating order; medians reported",
    )
    args = parser.parse_args()
    if args.duration > 60 or args.requests > 20_000 or not 1 <= args.rounds <= 5:
        parser.error("keep the load bounded: duration <= 60 s, requests <= 20,000, 1-5 rounds")
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    args.traffic = "simulated"
    args.connections = 64
    work = Path(tempfile.mkdtemp(prefix="frisk-scaleout-"))
    try:
        model, traffic = _prepare(work, args)
        names = ("in-process", "redis 1w", "redis 2w", "2 nodes")
        measured: dict[str, list[Run]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            # Forwards, then backwards: no configuration always runs first or last.
            here = work / f"round-{round_}"
            here.mkdir()
            for name in names if round_ % 2 == 0 else names[::-1]:
                measured[name].append(_measure(name, here, model, traffic, args))
        if args.rounds > 1:
            for round_, (one, two) in enumerate(
                zip(measured["redis 1w"], measured["redis 2w"], strict=True)
            ):
                ratios = ", ".join(
                    f"{c} conns {two.per_second[c] / one.per_second[c]:.2f}x" for c in (16, 64)
                )
                print(f"round {round_ + 1}: redis 2w / redis 1w {ratios}")
        _report([_median(measured[name]) for name in names])
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _median(runs: list[Run]) -> Run:
    """One configuration's rounds: medians, failures summed, every load average."""
    if len(runs) == 1:
        return runs[0]

    def mid(values: list[float]) -> float:
        return statistics.median(values)

    conns = runs[0].per_second.keys()
    return Run(
        runs[0].name,
        p50_ms=mid([r.p50_ms for r in runs]),
        p99_ms=mid([r.p99_ms for r in runs]),
        per_second={c: mid([r.per_second[c] for r in runs]) for c in conns},
        non2xx=sum(r.non2xx for r in runs),
        socket_errors=sum(r.socket_errors for r in runs),
        redis_us={c: mid([r.redis_us[c] for r in runs]) for c in runs[0].redis_us},
        loads=[x for r in runs for x in r.loads],
        shares={
            c: [mid([r.shares[c][i] for r in runs]) for i in range(len(runs[0].shares[c]))]
            for c in runs[0].shares
            if all(len(r.shares.get(c, ())) == len(runs[0].shares[c]) for r in runs)
        },
        cpu={
            c: Cpu(
                wall=mid([r.cpu[c].wall for r in runs]),
                decisions=round(mid([r.cpu[c].decisions for r in runs])),
                frisk=mid([r.cpu[c].frisk for r in runs]),
                postgres=mid([r.cpu[c].postgres for r in runs]),
                redis=mid([r.cpu[c].redis for r in runs]),
                wrk=mid([r.cpu[c].wrk for r in runs]),
                machine=mid([r.cpu[c].machine for r in runs]),
            )
            for c in conns
        },
    )


def _measure(name: str, work: Path, model: Path, traffic: Traffic, args: argparse.Namespace) -> Run:
    here = work / name.replace(" ", "-")
    here.mkdir()
    run = Run(name)
    with ExitStack() as stack:
        application = f"frisk_bench_{uuid.uuid4().hex[:8]}"
        url = stack.enter_context(_schema(application))
        key = _scorer_key_url(url)
        env = {
            "FRISK_HOME": str(here / "home"),
            "FRISK_DATABASE_URL": url,
            "FRISK_SECURITY__RATE_LIMIT__ENABLED": "false",
            "FRISK_API__EVENT_BEHIND_DAYS": "36500",
        }
        redis_port = None
        redis_pid = None
        if name != "in-process":
            redis_port = _free_port()
            redis_pid = stack.enter_context(_redis(redis_port, here))
            env["FRISK_STATE__URL"] = f"redis://127.0.0.1:{redis_port}/0"
        workers = ["--workers", "2"] if name == "redis 2w" else []
        figures = None
        if workers:
            # The workers' figures (frisk.service.worker_stats): who is up, who decided what.
            figures = here / "metrics"
            figures.mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(figures)
        ports = [_free_port() for _ in range(2 if name == "2 nodes" else 1)]
        servers = [_serve(stack, here, port, model, env, workers) for port in ports]
        if figures is not None:
            # /ready answers once one worker is up: wrk's connections, opened once and kept,
            # would all go to it while the other still loads its model.
            _wait_workers(figures, 2)
        run.loads.append(os.getloadavg()[0])
        got = _sequential(ports[0], key, traffic.sequential, args.requests)
        run.p50_ms, run.p99_ms = got["p50_ms"], got["p99_ms"]
        run.non2xx += got["failures"]
        for connections in (16, 64):
            run.loads.append(os.getloadavg()[0])
            before = _redis_usec(redis_port)
            if figures is not None:
                time.sleep(1.5)  # the figures of what came before, written
            decided = _decided_by_worker(figures)
            counting = _CpuCounter(servers, application, redis_pid)
            requests, seconds, failed, lost = _wrk(ports, key, traffic, connections, args.duration)
            run.cpu[connections] = counting.stop(requests)
            if figures is not None:
                time.sleep(1.5)  # each worker writes its figures once a second
                after = _decided_by_worker(figures)
                done = {pid: n - decided.get(pid, 0) for pid, n in after.items()}
                total = max(1, sum(done.values()))
                run.shares[connections] = sorted((n / total for n in done.values()), reverse=True)
            run.per_second[connections] = requests / seconds
            run.non2xx += failed
            run.socket_errors += lost
            if redis_port is not None:
                run.redis_us[connections] = (_redis_usec(redis_port) - before) / max(1, requests)
        print(
            f"{name}: sequential p50 {run.p50_ms:.2f} ms p99 {run.p99_ms:.2f} ms; "
            + ", ".join(f"{c} conns {r:,.0f}/s" for c, r in run.per_second.items())
            + f"; non-2xx {run.non2xx}, socket errors {run.socket_errors}"
            + "".join(
                f"; {c} conns workers' shares {'/'.join(f'{x:.0%}' for x in shares)}"
                for c, shares in run.shares.items()
            )
            + f"; load {', '.join(f'{x:.1f}' for x in run.loads)}"
        )
    return run


def _decided_by_worker(figures: Path | None) -> dict[int, int]:
    """Decisions since start by worker pid, from the workers' figures files."""
    if figures is None:
        return {}
    out = {}
    for path in figures.glob("stats-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        out[int(data["pid"])] = sum(data["decisions_since_start"].values())
    return out


def _wait_workers(figures: Path, count: int) -> None:
    deadline = time.monotonic() + 180
    while len(_decided_by_worker(figures)) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"fewer than {count} workers started; see {figures.parent}")
        time.sleep(0.2)
    time.sleep(1.0)  # a worker writes its figures as its app starts, just before it listens


class _CpuCounter:
    """CPU seconds from now to ``stop``: the frisk processes (each server and its children),
    the PostgreSQL backends named ``application``, a Redis, the children this process reaps
    meanwhile (wrk), and the machine."""

    def __init__(self, servers: list[int], application: str, redis_pid: int | None) -> None:
        self.servers, self.application, self.redis_pid = servers, application, redis_pid
        self.began = time.monotonic()
        self.machine = _machine_busy()
        self.children = _reaped_cpu()
        self.frisk = _cpu_of(_tree(self.servers))
        self.postgres = _cpu_of(_backends(application))
        self.redis = _cpu_of([redis_pid] if redis_pid else [])

    def stop(self, decisions: int) -> Cpu:
        wall = time.monotonic() - self.began
        machine = _machine_busy() - self.machine
        children = _reaped_cpu() - self.children
        return Cpu(
            wall=wall,
            decisions=decisions,
            frisk=_since(self.frisk, _cpu_of(_tree(self.servers))),
            postgres=_since(self.postgres, _cpu_of(_backends(self.application))),
            redis=_since(self.redis, _cpu_of([self.redis_pid] if self.redis_pid else [])),
            wrk=children,
            machine=machine,
        )


def _since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots by pid (a process new since counts whole; one
    that ended meanwhile is lost: none do during a run, the pool keeps its connections)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def _tree(roots: list[int]) -> list[int]:
    """Each root and its descendants (a supervisor, its workers)."""
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return found


def _backends(application: str) -> list[int]:
    import sqlalchemy as sa

    admin = sa.create_engine(sa.make_url(POSTGRES), poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                {"a": application},
            )
            return [int(r[0]) for r in rows]
    finally:
        admin.dispose()


def _machine_busy() -> float:
    """CPU seconds every core spent busy so far (all but idle and iowait, /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _reaped_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _scorer_key_url(url: str) -> str:
    """A scorer key in the ledger at ``url`` (migrated here, before any server starts)."""
    from frisk.service.keys import create_key
    from frisk.store import Role, open_ledger

    ledger = open_ledger(url)
    try:
        return create_key(ledger, Role.SCORER, "bench", actor="bench")[0]
    finally:
        ledger.close()


class _schema:
    """A fresh PostgreSQL schema as a ledger URL (its connections named ``application``);
    dropped on exit."""

    def __init__(self, application: str) -> None:
        self.application = application

    def __enter__(self) -> str:
        import sqlalchemy as sa

        self.url = sa.make_url(POSTGRES)
        self.name = f"frisk_bench_{uuid.uuid4().hex[:10]}"
        self.admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.name}"'))
        scoped = self.url.update_query_dict(
            {"options": f"-csearch_path={self.name}", "application_name": self.application}
        )
        return scoped.render_as_string(hide_password=False)

    def __exit__(self, *_: object) -> None:
        import sqlalchemy as sa

        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


class _redis:
    """A redis-server of this benchmark's own on ``port`` (no persistence); killed on exit."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port, self.directory = port, directory

    def __enter__(self) -> int:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while _redis_usec(self.port) < 0:
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        return self.process.pid

    def __exit__(self, *_: object) -> None:
        self.process.kill()
        self.process.wait()


def _redis_usec(port: int | None) -> float:
    """Redis's own time in commands so far (µs); -1 when it does not answer; 0 without one."""
    if port is None:
        return 0.0
    import redis

    try:
        client = redis.Redis(port=port, socket_timeout=2)
        stats: dict[str, Any] = client.info("commandstats")
        client.close()
    except redis.RedisError:
        return -1.0
    return float(sum(v["usec"] for v in stats.values()))


def _serve(
    stack: ExitStack,
    here: Path,
    port: int,
    model: Path,
    env: dict[str, str],
    extra: list[str],
) -> int:
    """Start ``frisk serve`` on ``port``; its pid once it is ready."""
    import httpx

    launch = "import sys; from frisk.cli import main; sys.exit(main())"
    command = [sys.executable, "-c", launch, "serve", "--model", str(model), "--port", str(port)]
    log = stack.enter_context((here / f"serve-{port}.log").open("ab"))
    process = subprocess.Popen(
        [*command, *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    stack.callback(stop)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"frisk serve exited; see {here}/serve-{port}.log")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1.0).status_code == 200:
                return process.pid
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"frisk serve not ready; see {here}/serve-{port}.log")


def _sequential(port: int, key: str, bodies: Path, requests: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.bench_service", "client"]
    args = [str(port), key, str(bodies), str(requests)]
    out = subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"sequential client failed: {out.stderr.strip()}")
    got: dict[str, Any] = json.loads(out.stdout)
    return got


def _wrk(
    ports: list[int], key: str, traffic: Traffic, connections: int, duration: int
) -> tuple[int, float, int, int]:
    """One wrk per port, ``connections`` split between them, at once: (requests, seconds,
    non-2xx, socket errors)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA)
    share = max(1, connections // len(ports))
    tag = uuid.uuid4().hex[:6]
    try:
        running = [
            subprocess.Popen(
                [
                    "wrk",
                    "-t1",
                    f"-c{share}",
                    f"-d{duration}s",
                    "--timeout",
                    "10s",  # wrk's 2 s default counts a slow answer on a busy machine as lost
                    "-s",
                    script.name,
                    f"http://127.0.0.1:{port}",
                    "--",
                    str(traffic.load),
                    key,
                    f"{tag}{i}c",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, port in enumerate(ports)
        ]
        outputs = [p.communicate(timeout=duration + 60)[0] for p in running]
    finally:
        os.unlink(script.name)
    requests, seconds, failed, lost = 0, 0.0, 0, 0
    for out in outputs:
        line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"wrk failed: {out}")
        got = json.loads(line.removeprefix("RESULT "))
        requests += got["requests"]
        seconds = max(seconds, got["duration_us"] / 1e6)
        failed += got["non2xx"]
        lost += got["errors"]
    return requests, seconds, failed, lost


def _report(runs: list[Run]) -> None:
    ref_seq = runs[0].p50_ms
    ref_tp = {c: runs[1].per_second[c] for c in runs[1].per_second}
    print()
    print(f"{'':<12}{'16 conns/s':>12}{'x redis 1w':>11}{'64 conns/s':>12}{'x redis 1w':>11}"
          f"{'seq p50 ms':>11}{'+ vs in-proc':>13}{'seq p99 ms':>11}{'non-2xx':>9}{'sock err':>9}"
          f"{'redis us/dec':>13}  load")  # fmt: skip
    for run in runs:
        ratios = [run.per_second[c] / ref_tp[c] for c in (16, 64)]
        redis_us = run.redis_us.get(16)
        print(
            f"{run.name:<12}{run.per_second[16]:>12,.0f}{ratios[0]:>11.2f}"
            f"{run.per_second[64]:>12,.0f}{ratios[1]:>11.2f}{run.p50_ms:>11.2f}"
            f"{run.p50_ms - ref_seq:>+13.2f}{run.p99_ms:>11.2f}{run.non2xx:>9}"
            f"{run.socket_errors:>9}"
            f"{'-' if redis_us is None else f'{redis_us:.0f}':>13}"
            f"  {min(run.loads):.1f}-{max(run.loads):.1f}"
        )
    print("\ntargets: 0 non-2xx; redis 2w >= 1.5x redis 1w; redis adds <= 0.5 ms to sequential p50")
    for connections in (16, 64):
        print(
            f"\nCPU during the wrk run at {connections} connections: cores (CPU s per s), "
            "and ms per decision"
        )
        print(f"{'':<12}{'frisk':>13}{'postgres':>13}{'redis':>13}{'wrk':>13}{'other':>8}"
              f"{'idle':>8}{'decisions/s':>13}")  # fmt: skip
        for run in runs:
            cpu = run.cpu[connections]
            per = 1000 / max(1, cpu.decisions)

            def both(seconds: float, cpu: Cpu = cpu, per: float = per) -> str:
                return f"{seconds / cpu.wall:.2f} {seconds * per:.2f}ms"

            print(
                f"{run.name:<12}{both(cpu.frisk):>13}{both(cpu.postgres):>13}"
                f"{both(cpu.redis):>13}{both(cpu.wrk):>13}{cpu.other / cpu.wall:>8.2f}"
                f"{cpu.idle / cpu.wall:>8.2f}{cpu.decisions / cpu.wall:>13,.0f}"
            )
        one, two = (next(r for r in runs if r.name == n) for n in ("redis 1w", "redis 2w"))
        _bound(one.cpu[connections], two.cpu[connections])


def _bound(one: Cpu, two: Cpu) -> None:
    """The most a second worker could add, from the CPU each decision cost: one worker runs on
    at most one core (one interpreter), two share the machine's cores with PostgreSQL, Redis and
    wrk. With the cores to themselves, then with what the other jobs left them."""

    def per(cpu: Cpu, seconds: float) -> float:
        return seconds / max(1, cpu.decisions)

    ours1 = per(one, one.frisk + one.postgres + one.redis + one.wrk)
    ours2 = per(two, two.frisk + two.postgres + two.redis + two.wrk)
    for label, cores in (
        ("the machine's cores to themselves", float(one.cores)),
        (
            "the cores the other jobs left",
            one.cores - (one.other + two.other) / (one.wall + two.wall),
        ),
    ):
        best1 = min(1.0 / per(one, one.frisk), cores / ours1)
        best2 = cores / ours2
        print(
            f"  with {label} ({cores:.2f}): 1 worker <= {best1:,.0f}/s, 2 workers <= "
            f"{best2:,.0f}/s: 2 workers / 1 worker <= {best2 / best1:.2f}"
        )


if __name__ == "__main__":
    main()
