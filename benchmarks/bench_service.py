"""The decision API under load: ``python -m benchmarks.bench_service [--model DIR]``.

Starts two servers on free 127.0.0.1 ports, each in its own process:

- the floor: bare FastAPI parsing the same ``Transaction`` body (``benchmarks.service_floor``);
- ``frisk serve`` with a model (trained here on simulated data with the default catalogue unless
  ``--model`` names one), a fresh SQLite ledger and rate limits off.

The traffic (``--traffic``): ``simulated`` (default) replays the simulator's payments of the days
after the training window, in time order, each a new transaction; the model sees the traffic it
was trained for and alerts on ~1 % of it. ``synthetic`` is the generator of earlier runs (amounts
uniform up to 50,000 EUR, which the model flags ~75 % of the time, so nearly every decision pays
for TreeSHAP reasons).

Then, from other processes, measures each server:

- sequential latency: one client on one keep-alive connection (raw sockets, so the client costs
  little), p50 and p99 over ``--requests`` after a warm-up;
- throughput: ``wrk`` with ``--connections`` connections for ``--duration`` seconds, a Lua script
  posting the next transaction per request (``make bench`` installs wrk; skipped if absent);
- the server process's CPU time per request during the wrk run (from /proc), which other load on
  the machine disturbs far less than the rates;
- how busy the server's busiest thread (the event loop's) was during the run: near 100 % the
  server is CPU-bound, well below it requests were waiting on something else (the ledger's
  commits); and the share of the machine's CPU time the hypervisor took (steal), which on a
  shared virtual machine explains runs that are slow for no reason of their own.

Prints both side by side with the ratio to the floor, and the load average next to each run: on a
shared two-core machine the numbers mean little without it. Every request must succeed: a run with
a non-2xx answer measured refusals, not decisions, and exits non-zero naming the first one.

A/B: ``--compare DIR`` serves a second source tree (a git worktree: its ``src`` on PYTHONPATH)
as ``frisk-b`` next to this one's ``frisk``, with the same model and traffic and a fresh ledger
each; ``--rounds N`` repeats floor, frisk, frisk-b (the two alternating in order) and reports
medians, so a change is judged against its parent in the same minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_709_294_400  # 2024-03-01T12:00:00Z

_LUA = r"""
local bodies = {}
local next_body = 0
local round = 0
-- Each wrk thread has its own Lua state and walks the same bodies: threads after the first send
-- them under ids of their own (w2-..., w3-...). Before, with --threads N each id went N times and
-- all but the first were answered from the ledger in a worker thread, not decided. (N threads
-- still send each payment N times: more velocity per payer, so more alerts than one thread.)
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("wrk_thread", threads)
end
function init(args)
  wrk.headers["Content-Type"] = "application/json"
  if args[2] ~= nil and args[2] ~= "" then wrk.headers["X-API-Key"] = args[2] end
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
request = function()
  next_body = next_body + 1
  if next_body > #bodies then  -- out of prepared transactions: new ids, as new payments
    next_body = 1
    round = round + 1
  end
  local body = bodies[next_body]
  local prefix = ""
  if wrk_thread ~= nil and wrk_thread > 1 then prefix = "w" .. wrk_thread .. "-" end
  if round > 0 then prefix = prefix .. "r" .. round .. "-" end
  if prefix ~= "" then
    body = body:gsub('"transaction_id":"', '"transaction_id":"' .. prefix, 1)
  end
  return wrk.format("POST", "/v1/score", nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,'
    .. '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Result:
    p50_ms: float
    p99_ms: float
    load: float
    per_second: float | None = None
    throughput_p99_ms: float | None = None
    failures: int = 0
    throughput_load: float | None = None
    cpu_ms: float | None = None  # server CPU per request during the wrk run
    busiest_thread: float | None = None  # share of the wrk run the server's busiest thread ran
    steal: float | None = None  # share of the machine's CPU time the hypervisor took meanwhile
    alert_share: float | None = None  # decisions recorded as review or block
    first_failure: str | None = None  # the status line and body of the first non-2xx answer


@dataclass
class Traffic:
    sequential: Path  # JSON bodies, one a line: the sequential client's (warm-up included)
    load: Path  # then wrk's
    load_events: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a model directory (default: train one)")
    parser.add_argument("--days", type=int, default=20, help="simulated days to train on")
    parser.add_argument("--payers", type=int, default=2000, help="simulated payers")
    parser.add_argument("--traffic", choices=["simulated", "synthetic"], default="simulated")
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests")
    parser.add_argument("--duration", type=int, default=10, help="seconds of the wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--only", choices=["floor", "frisk"], help="measure one server")
    parser.add_argument("--compare", type=Path, help="another source tree, served as frisk-b")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each server")
    args = parser.parse_args()
    if args.compare is not None and not (args.compare / "src" / "frisk").is_dir():
        parser.error(f"--compare {args.compare}: no src/frisk there")
    if args.duration > 60 or args.requests > 50_000 or args.connections > 256 or args.rounds > 20:
        parser.error(
            "keep the load bounded: duration <= 60 s, requests <= 50,000, <= 256 conns, "
            "<= 20 rounds"
        )

    work = Path(tempfile.mkdtemp(prefix="frisk-bench-"))
    try:
        model, traffic = _prepare(work, args)
        results: dict[str, list[Result]] = {}
        trees = {"floor": ROOT, "frisk": ROOT}
        if args.compare is not None:
            trees["frisk-b"] = args.compare.resolve()
        for round_ in range(args.rounds):
            names = [n for n in trees if not args.only or n.startswith(args.only)]
            if round_ % 2:  # frisk, frisk-b, then frisk-b, frisk: neither always runs second
                names = [names[0], *reversed(names[1:])] if names[0] == "floor" else names[::-1]
            for name in names:
                results.setdefault(name, []).append(
                    _measure(name, trees[name], work / f"{name}-{round_}", model, traffic, args)
                )
        _report(results, args)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _measure(
    name: str, tree: Path, work: Path, model: Path, traffic: Traffic, args: argparse.Namespace
) -> Result:
    """One server started in ``work`` (its home: a fresh ledger and key), measured, stopped."""
    work.mkdir(parents=True)
    frisk = name != "floor"
    key = _scorer_key(work / "home", tree) if frisk else ""
    with ExitStack() as stack:
        port = _free_port()
        spec = _frisk_command(port, model, tree) if frisk else _floor_command(port)
        process = _start(spec, tree, work, name, stack)
        url = f"http://127.0.0.1:{port}"
        _wait(url, process, work / f"{name}.log")
        result = _sequential(port, key, traffic.sequential, args.requests, name)
        _throughput(result, url, key, args, name, traffic, process.pid)
    if frisk:  # stopped: the ledger and the log are complete
        print(f"  {name} log: {work / f'{name}.log'}")
        result.alert_share = _decision_mix(work / "home", name)
        _commits(work / f"{name}.log", name)
    return result


def _prepare(work: Path, args: argparse.Namespace) -> tuple[Path, Traffic]:
    """The model to serve and the request bodies: enough for the wrk run at ~3,000 req/s."""
    import polars as pl

    from frisk.data.simulator import SimulationConfig, simulate

    warmup = min(200, args.requests)
    sequential = warmup + args.requests
    wanted = sequential + args.duration * 3000
    per_day = max(1, args.payers)  # the simulator makes ~1.1 payments per payer and day
    extra_days = -(-wanted // per_day) + 1
    began = time.perf_counter()
    table = simulate(SimulationConfig(days=args.days + extra_days, payers=args.payers, seed=7))
    cutoff = table["timestamp"].min() + timedelta(days=args.days)
    history = table.filter(pl.col("timestamp") < cutoff)
    print(f"simulated {table.height:,} events in {time.perf_counter() - began:.1f} s")
    model = args.model or _train(work / "model", history)
    if args.traffic == "simulated":
        later = table.filter(pl.col("timestamp") >= cutoff).head(wanted)
        bodies = [_body(row) for row in later.iter_rows(named=True)]
    else:
        bodies = [_synthetic(i) for i in range(wanted)]
    traffic = Traffic(work / "sequential.jsonl", work / "load.jsonl", len(bodies) - sequential)
    traffic.sequential.write_bytes(b"\n".join(bodies[:sequential]) + b"\n")
    traffic.load.write_bytes(b"\n".join(bodies[sequential:]) + b"\n")
    return model, traffic


_CORE = ("transaction_id", "amount", "currency", "payer_id", "payee_id", "device_id", "channel",
         "merchant_category", "payer_country", "payee_country")  # fmt: skip
_NOT_EXTRA = {*_CORE, "timestamp", "label", "label_timestamp", "label_source", "scenario"}


def _body(row: dict[str, Any]) -> bytes:
    """A simulated event as the JSON a payment system would send."""
    body = {k: row[k] for k in _CORE if row.get(k) is not None}
    body["timestamp"] = row["timestamp"].isoformat()
    body["extra"] = {k: v for k, v in row.items() if k not in _NOT_EXTRA and v is not None}
    return json.dumps(body, separators=(",", ":")).encode()


def _synthetic(i: int) -> bytes:
    """The traffic of earlier runs: mostly amounts the model has never seen."""
    n = i * 64 + 63
    body = {
        "transaction_id": f"s-{i}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(T0 + n)),
        "amount": 1 + (n * 7919) % 50000 + (n % 100) / 100,
        "currency": "EUR",
        "payer_id": f"p{(n * 31) % 5000}",
        "payee_id": f"m{(n * 17) % 800}",
        "device_id": f"d{(n * 31) % 5000}",
        "channel": "card",
        "extra": {"account_age_days": (n * 13) % 2000, "entry_mode": "chip"},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _decision_mix(home: Path, name: str) -> float:
    """Print the recorded decisions by action; return the alert share (review and block): the
    decisions that paid for reasons."""
    import sqlite3

    with sqlite3.connect(home / "ledger.sqlite") as conn:
        rows = dict(conn.execute("SELECT action, COUNT(*) FROM decisions GROUP BY action"))
    total = sum(rows.values()) or 1
    alerts = sum(n for a, n in rows.items() if a != "allow") / total
    mix = ", ".join(f"{a} {100 * n / total:.1f} %" for a, n in sorted(rows.items()))
    print(f"  {name} decisions recorded: {total:,} ({mix}; alert share {alerts:.1%})")
    return alerts


def _commits(log: Path, name: str) -> None:
    # The recorder's summary at shutdown: how decisions were grouped into commits, and how long a
    # commit (insert and fsync) took; every decision waited for one.
    for line in log.read_text(errors="replace").splitlines():
        if '"recorded ' in line and " commits (" in line:
            print(f"  {name} ledger: {json.loads(line)['message']}")


# -- servers ---------------------------------------------------------------------------------


def _train(path: Path, table: pl.DataFrame) -> Path:
    from frisk.models import save_model
    from frisk.models.pipeline import train_events

    began = time.perf_counter()
    model = train_events(table)
    save_model(model, path)
    trees = model.booster.num_trees()
    print(
        f"trained on {table.height:,} simulated events in {time.perf_counter() - began:.0f} s: "
        f"{trees} trees, {len(model.feature_names)} features (default catalogue)"
    )
    return path


def _scorer_key(home: Path, tree: Path) -> str:
    """A scorer key in a fresh ledger made by ``tree``'s code (its migrations: a tree from before
    a schema change cannot open a ledger made by a later one)."""
    script = (
        "import sys; from pathlib import Path; from frisk.service.keys import create_key; "
        "from frisk.store import Role, default_url, open_ledger; "
        "ledger = open_ledger(default_url(Path(sys.argv[1]))); "
        "print(create_key(ledger, Role.SCORER, 'bench', actor='bench')[0]); ledger.close()"
    )
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    out = subprocess.run(
        [sys.executable, "-c", script, str(home)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"making a key with {tree} failed: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


def _floor_command(port: int) -> tuple[list[str], dict[str, str]]:
    command = [sys.executable, "-m", "uvicorn", "benchmarks.service_floor:app"]
    return [*command, "--port", str(port), "--no-access-log", "--log-level", "warning"], {}


def _frisk_command(port: int, model: Path, tree: Path) -> tuple[list[str], dict[str, str]]:
    # ``frisk serve`` from ``tree``'s sources (ahead of the installed package on the path).
    launch = "import sys; from frisk.cli import main; sys.exit(main())"
    env = {
        "PYTHONPATH": str(tree / "src"),
        "FRISK_SECURITY__RATE_LIMIT__ENABLED": "false",
        # The replayed payments are from the simulator's calendar, older than the live window
        # (30 days behind the server's clock): without this every request is a 422.
        "FRISK_API__EVENT_BEHIND_DAYS": "36500",
    }
    return [sys.executable, "-c", launch, "serve", "--model", str(model), "--port", str(port)], env


def _start(
    spec: tuple[list[str], dict[str, str]],
    tree: Path,
    work: Path,
    name: str,
    stack: ExitStack,
) -> subprocess.Popen[bytes]:
    command, extra_env = spec
    env = {**os.environ, "FRISK_HOME": str(work / "home"), **extra_env}
    log = stack.enter_context((work / f"{name}.log").open("ab"))
    process = subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    stack.callback(stop)
    return process


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}; see {log}")
        try:
            httpx.get(f"{url}/health", timeout=1.0)  # the floor answers 404: it is up
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"server did not start within 120 s; see {log}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- load ------------------------------------------------------------------------------------


def _sequential(port: int, key: str, bodies: Path, requests: int, name: str) -> Result:
    """One keep-alive connection, one request at a time, from a separate process."""
    load = os.getloadavg()[0]
    command = [sys.executable, "-m", "benchmarks.bench_service", "client"]
    args = [str(port), key, str(bodies), str(requests)]
    out = subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"sequential client failed: {out.stderr.strip()}")
    got: dict[str, Any] = json.loads(out.stdout)
    print(
        f"{name}: sequential p50 {got['p50_ms']:.2f} ms p99 {got['p99_ms']:.2f} ms "
        f"over {requests} (load {load:.2f})"
    )
    result = Result(got["p50_ms"], got["p99_ms"], load, failures=got["failures"])
    result.first_failure = got["first_failure"]
    return result


def _throughput(
    result: Result,
    url: str,
    key: str,
    args: argparse.Namespace,
    name: str,
    traffic: Traffic,
    pid: int,
) -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (make bench installs it): throughput not measured")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA)
    load = os.getloadavg()[0]
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
    command += ["--latency", "-s", script.name, url, "--", str(traffic.load), key]
    cpu_before, threads_before, stat_before = _cpu_seconds(pid), _thread_cpu(pid), _cpu_stat()
    began = time.monotonic()
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    finally:
        os.unlink(script.name)
    cpu = _cpu_seconds(pid) - cpu_before
    elapsed = time.monotonic() - began
    threads_after = _thread_cpu(pid)
    result.busiest_thread = max(
        (threads_after[t] - threads_before.get(t, 0.0) for t in threads_after), default=0.0
    ) / max(elapsed, 1e-9)
    stat_after = _cpu_stat()
    ticks = [b - a for a, b in zip(stat_before, stat_after, strict=True)]
    result.steal = ticks[7] / max(1, sum(ticks[:8]))
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {out.stdout}\n{out.stderr}")
    got = json.loads(line.removeprefix("RESULT "))
    result.per_second = got["requests"] / (got["duration_us"] / 1e6)
    result.throughput_p99_ms = got["p99_us"] / 1000
    result.failures += got["non2xx"] + got["errors"]
    result.throughput_load = load
    result.cpu_ms = 1000 * cpu / max(1, got["requests"])
    wrapped = " (ran out of prepared transactions: later ones reused with new ids)"
    print(
        f"{name}: {result.per_second:,.0f} req/s at {args.connections} connections, "
        f"p99 {result.throughput_p99_ms:.1f} ms, {got['non2xx']} non-2xx, "
        f"{got['errors']} socket errors, server CPU {result.cpu_ms:.2f} ms/request, "
        f"busiest server thread {result.busiest_thread:.0%} busy, CPU steal {result.steal:.0%} "
        f"(load {load:.2f}){wrapped if got['requests'] > traffic.load_events else ''}"
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    return _cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def _cpu_seconds_of(stat: Path) -> float:
    fields = stat.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each of a process's threads, by thread id (Linux)."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = _cpu_seconds_of(task / "stat")
        except (FileNotFoundError, ProcessLookupError):  # the thread ended meanwhile
            continue
    return out


def _cpu_stat() -> list[int]:
    """The machine's CPU ticks: user nice system idle iowait irq softirq steal (/proc/stat)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    return [int(x) for x in first[1:9]]


def _report(results: dict[str, list[Result]], args: argparse.Namespace) -> None:
    """Medians over the rounds, each server's ratio to the floor (and frisk-b's to frisk); exits
    non-zero when any request failed."""
    import statistics

    names = list(results)
    rounds = max((len(r) for r in results.values()), default=0)
    print(f"\nmedians over {rounds} rounds" if rounds > 1 else "")
    head = "".join(f"{n:>12}" for n in names)
    ratios = [n for n in names if n != "floor" and "floor" in results]
    if "frisk" in results and "frisk-b" in results:
        ratios.append("b/a")
    print(
        f"{'':28}{head}" + "".join(f"{'ratio ' + r if r != 'b/a' else 'b/a':>14}" for r in ratios)
    )

    def median(name: str, attr: str) -> float | None:
        values = [getattr(r, attr) for r in results[name] if getattr(r, attr) is not None]
        return statistics.median(values) if values else None

    def row(label: str, attr: str, fmt: str, ratio: bool = True) -> None:
        cells = {n: median(n, attr) for n in names}
        line = f"{label:28}" + "".join(
            f"{format(v, fmt) if v is not None else '-':>12}" for v in cells.values()
        )
        for r in ratios:
            a, b = (cells.get("frisk"), cells.get("frisk-b")) if r == "b/a" else (
                cells.get("floor"), cells.get(r))  # fmt: skip
            line += f"{f'{b / a:.2f}x' if ratio and a and b else '-':>14}"
        print(line)

    row("sequential p50 (ms)", "p50_ms", ".2f")
    row("sequential p99 (ms)", "p99_ms", ".2f")
    row(f"req/s at {args.connections} connections", "per_second", ",.0f")
    row("p99 under load (ms)", "throughput_p99_ms", ".1f")
    row("server CPU per request (ms)", "cpu_ms", ".2f")
    row("busiest server thread busy", "busiest_thread", ".0%", ratio=False)
    row("CPU steal during wrk", "steal", ".0%", ratio=False)
    row("alert share", "alert_share", ".1%", ratio=False)
    row("load average (1 min)", "load", ".2f", ratio=False)
    row("load average during wrk", "throughput_load", ".2f", ratio=False)
    floor = median("floor", "per_second") if "floor" in results else None
    for name in (n for n in names if n != "floor"):
        p99, rate, cpu = median(name, "p99_ms"), median(name, "per_second"), median(name, "cpu_ms")
        ratio = rate / floor if rate and floor else None
        print(
            f"{name} targets (#18): >= 0.4x the floor "
            f"{'-' if ratio is None else 'met' if ratio >= 0.4 else 'NOT met'}; "
            f"sequential p99 <= 2 ms {'met' if p99 is not None and p99 <= 2.0 else 'NOT met'}; "
            f"CPU <= 0.35 ms/decision {'-' if cpu is None else 'met' if cpu <= 0.35 else 'NOT met'}"
        )
    failed = {n: sum(r.failures for r in rs) for n, rs in results.items()}
    if any(failed.values()):
        first = next(
            (r.first_failure for rs in results.values() for r in rs if r.first_failure), None
        )
        raise SystemExit(
            f"FAILED: non-2xx or socket errors {failed}; the numbers above are not decisions"
            + (f"; first failed answer: {first}" if first else "")
        )


# -- the sequential client (a separate process) -----------------------------------------------


def client(port: int, key: str, bodies_file: str, requests: int) -> None:
    """Post the bodies in ``bodies_file`` one at a time on one connection; print percentiles."""
    bodies = Path(bodies_file).read_bytes().splitlines()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile("rb")
    auth = f"X-API-Key: {key}\r\n" if key else ""
    latencies: list[float] = []
    failures = 0
    first_failure: str | None = None
    warmup = len(bodies) - requests
    for i, body in enumerate(bodies):
        head = (
            f"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        began = time.perf_counter()
        sock.sendall(head.encode() + body)
        status = reader.readline()
        length = 0
        while True:
            line = reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        answer = reader.read(length)
        elapsed = time.perf_counter() - began
        if b" 200 " not in status:
            failures += 1
            if first_failure is None:
                first_failure = (status.strip() + b" " + answer[:500]).decode(errors="replace")
        if i >= warmup:
            latencies.append(elapsed * 1000)
    sock.close()
    latencies.sort()
    print(
        json.dumps(
            {
                "p50_ms": latencies[len(latencies) // 2],
                "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
                "failures": failures,
                "first_failure": first_failure,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        client(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
