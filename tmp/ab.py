"""Throwaway A/B: frisk serve (in-process state) on a PostgreSQL schema, from two trees, interleaved.
Per run: wrk 16 conns, server CPU s, PostgreSQL backend CPU s (by application_name), machine CPU."""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, time, uuid, shutil
from contextlib import ExitStack
from pathlib import Path
import sqlalchemy as sa
sys.path.insert(0, "/work/wt/scale")
from benchmarks.bench_service import _prepare, _free_port, _cpu_seconds, _cpu_stat, _wait, _sequential
from benchmarks.bench_scaleout import _LUA, POSTGRES

def schema(stack, app):
    url = sa.make_url(POSTGRES)
    name = f"frisk_ab_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    def drop():
        with admin.connect() as c:
            c.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
    stack.callback(drop)
    scoped = url.update_query_dict({"options": f"-csearch_path={name}", "application_name": app})
    return scoped.render_as_string(hide_password=False), admin

def backend_cpu(admin, app):
    with admin.connect() as c:
        pids = [r[0] for r in c.execute(sa.text("select pid from pg_stat_activity where application_name=:a"), {"a": app})]
    tot = 0.0
    for p in pids:
        try: tot += _cpu_seconds(p)
        except OSError: pass
    return tot, len(pids)

def sessions(admin):
    if admin is None: return 0
    with admin.connect() as c:
        return int(c.execute(sa.text("select sessions from pg_stat_database where datname=current_database()")).scalar())

def key_for(tree, url, home):
    script = ("import sys; from frisk.service.keys import create_key; from frisk.store import Role, open_ledger; "
              "l = open_ledger(sys.argv[1]); print(create_key(l, Role.SCORER, 'b', actor='b')[0]); l.close()")
    out = subprocess.run([sys.executable, "-c", script, url], env={**os.environ, "PYTHONPATH": str(tree/"src"), "FRISK_HOME": str(home)}, capture_output=True, text=True)
    if out.returncode: raise SystemExit(out.stderr)
    return out.stdout.strip().splitlines()[-1]

def one(name, tree, work, model, traffic, args, extra_env):
    here = work / f"{name}-{uuid.uuid4().hex[:4]}"; here.mkdir()
    app = f"ab_{uuid.uuid4().hex[:8]}"
    extra_env = dict(extra_env)
    sqlite = extra_env.pop("SQLITE", None) is not None or args.sqlite
    with ExitStack() as st:
        url, admin = schema(st, app) if not sqlite else (None, None)
        env = {**os.environ, "PYTHONPATH": str(tree / "src"), "FRISK_HOME": str(here/"home"),
               "FRISK_SECURITY__RATE_LIMIT__ENABLED": "false", "FRISK_API__EVENT_BEHIND_DAYS": "36500", **extra_env}
        if url: env["FRISK_DATABASE_URL"] = url
        key = key_for(tree, url or f"sqlite:///{here}/home/ledger.sqlite", here/"home") if url else None
        if key is None:
            (here/"home").mkdir()
            from benchmarks.bench_service import _scorer_key
            key = _scorer_key(here/"home", tree)
        port = _free_port()
        log = st.enter_context((here/"serve.log").open("ab"))
        p = subprocess.Popen([sys.executable, "-c", "import sys; from frisk.cli import main; sys.exit(main())", "serve", "--model", str(model), "--port", str(port)],
                             cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
        def stop():
            p.terminate(); p.wait(30)
        st.callback(stop)
        _wait(f"http://127.0.0.1:{port}", p, here/"serve.log")
        seq = _sequential(port, key, traffic.sequential, args.requests, name)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as s: s.write(_LUA)
        load = os.getloadavg()[0]
        c0, s0 = _cpu_seconds(p.pid), _cpu_stat()
        b0 = backend_cpu(admin, app)[0] if admin else 0
        sess0 = sessions(admin)
        prof = None
        if args.profile:
            prof = subprocess.Popen(["/work/main/.venv/bin/py-spy", "record", "-r", "250", "-d", str(args.duration - 2), "-p", str(p.pid), "--format", "raw", "-o", f"/work/wt/scale/tmp/prof-{name}-{uuid.uuid4().hex[:4]}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        out = subprocess.run(["wrk", "-t1", "-c16", f"-d{args.duration}s", "--timeout", "10s", "-s", s.name, f"http://127.0.0.1:{port}", "--", str(traffic.load), key, uuid.uuid4().hex[:6]], capture_output=True, text=True)
        el = time.monotonic() - t0
        if prof: prof.wait()
        sess = sessions(admin) - sess0
        c1, s1 = _cpu_seconds(p.pid), _cpu_stat()
        b1, nb = backend_cpu(admin, app) if admin else (0, 0)
        got = json.loads(next(l for l in out.stdout.splitlines() if l.startswith("RESULT ")).removeprefix("RESULT "))
        n = got["requests"]; rps = n / (got["duration_us"]/1e6)
        ticks = [b-a for a,b in zip(s0,s1)]
        busy = 1 - (ticks[3]+ticks[4])/max(1,sum(ticks))
        print(json.dumps(dict(name=name, rps=round(rps), seq_p50=seq.p50_ms, non2xx=got["non2xx"], server_ms=round(1000*(c1-c0)/n,3),
              pg_ms=round(1000*(b1-b0)/n,3), pg_backends=nb, machine_busy=round(busy,2), new_sessions=sess, load=round(load,1))), flush=True)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trees", nargs="+", required=True)  # name=path[:ENV=V,...]
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--days", type=int, default=20); ap.add_argument("--payers", type=int, default=2000)
    ap.add_argument("--model", type=Path); ap.add_argument("--sqlite", action="store_true"); ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(); args.traffic = "simulated"; args.connections = 16
    work = Path(tempfile.mkdtemp(prefix="frisk-ab-"))
    model, traffic = _prepare(work, args)
    specs = []
    for t in args.trees:
        name, _, rest = t.partition("=")
        path, _, envs = rest.partition(":")
        specs.append((name, Path(path), dict(e.split("=",1) for e in envs.split(",") if e)))
    for r in range(args.rounds):
        order = specs if r % 2 == 0 else specs[::-1]
        for name, tree, env in order:
            one(name, tree, work, model, traffic, args, env)
    shutil.rmtree(work, ignore_errors=True)
main()
