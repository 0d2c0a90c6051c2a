"""``frisk demo``: the README's main command, end to end on the embedded defaults.

Simulates a labelled payment stream whose last day is today, trains a model on the weeks before
the last ``--replay-days``, registers and promotes it, and evaluates it on those days (an HTML
report). Then it starts the API (``frisk serve``, its feature state warmed with the payments
before the replay and the labels known by then) and the dashboard, and replays the last days up
to now into the API as a payment system would, with the labels that arrived meanwhile sent as
they arrived. The dashboard then shows a service in steady state: today's figures, live
precision and recall by day, a review queue, drift against training. It prints the URLs and a
demo key and runs until Ctrl-C. Everything goes under the Frisk home directory (``FRISK_HOME``,
default ``.frisk``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from frisk.cli.app import app
from frisk.config import Settings, load_settings

if TYPE_CHECKING:
    import polars as pl

__all__ = ["demo"]


@app.command()
def demo(
    days: Annotated[int, typer.Option("--days", min=7, help="Days of payments to simulate.")] = 42,
    payers: Annotated[int, typer.Option("--payers", min=100, help="Simulated payers.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation and training.")] = 7,
    fraud_rate: Annotated[
        float, typer.Option("--fraud-rate", min=0.0, max=0.4, help="Share of fraudulent payments.")
    ] = 0.007,
    home: Annotated[
        Path | None, typer.Option("--home", help="Where data, models and reports go.")
    ] = None,
    replay_days: Annotated[
        int,
        typer.Option(
            "--replay-days",
            min=1,
            help="Days before today (and today up to now) to replay into the API; the model "
            "is trained on the days before them.",
        ),
    ] = 5,
    api_port: Annotated[int | None, typer.Option("--api-port", help="Default: service.port.")] = (
        None
    ),
    dashboard_port: Annotated[int, typer.Option("--dashboard-port")] = 8501,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the API and dashboard after training.")
    ] = True,
    exit_after_replay: Annotated[
        bool, typer.Option("--exit-after-replay", help="Stop the API and dashboard after it.")
    ] = False,
) -> None:
    """Simulate, train, evaluate; then serve the API and dashboard and replay payments into them.

    Small and quick (what the tests run): ``--days 14 --payers 300 --replay-days 3
    --fraud-rate 0.03``.
    """
    from frisk.data import write_table
    from frisk.data.simulator import SimulationConfig, simulate
    from frisk.errors import ConfigError
    from frisk.models import TrainConfig
    from frisk.models.evaluate import evaluate_artifact
    from frisk.models.pipeline import train_events
    from frisk.models.registry import Registry
    from frisk.models.report import write_report
    from frisk.monitoring.retrain import point_in_time_labels

    if replay_days > days - 5:
        raise ConfigError(f"--replay-days {replay_days}: leaves under 5 of {days} days to train on")
    settings = load_settings(**({"home": home} if home is not None else {}))
    data_dir, reports = settings.data_dir, settings.home / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    steps = 5 if serve else 3

    began = time.perf_counter()
    # The simulation's last day is today, and what it holds after this instant has not happened
    # yet: the dashboard's windows (today, the last days) then hold the replayed payments.
    now = datetime.now(UTC)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    config = SimulationConfig(
        days=days,
        payers=payers,
        seed=seed,
        fraud_rate=fraud_rate,
        start=today - timedelta(days=days - 1),
    )
    simulated = simulate(config)
    table = point_in_time_labels(simulated, None, now)
    events = data_dir / "demo-events.parquet"
    write_table(table, events)
    frauds = int(simulated.filter(simulated["timestamp"] < now).get_column("label").sum())
    typer.echo(
        f"1/{steps} simulated {table.height:,} payments from {config.start:%Y-%m-%d} to now, "
        f"{frauds:,} fraudulent ({frauds / table.height:.2%}) -> {events}"
    )

    # Train on the days before the replay, evaluate on the replayed ones: never shuffled across
    # time. The simulation knows every label's final truth; training and evaluation use it.
    split = today - timedelta(days=replay_days)
    model = train_events(simulated, end=split, config=TrainConfig(seed=seed))
    registry = Registry(settings.registry_dir)
    version = registry.register(model)
    registry.promote(version)
    training = model.metadata["training"]
    typer.echo(
        f"2/{steps} trained {version} on {training['rows']:,} payments before {split:%Y-%m-%d} "
        f"({training['num_trees']} trees), promoted to production in {settings.registry_dir}"
    )

    result = evaluate_artifact(model, simulated, split, now, 0.005)
    report = write_report(result, reports / f"evaluation-{version}.html")
    typer.echo(f"3/{steps} evaluated on payments from {split:%Y-%m-%d} to now -> {report}")
    for row in result.comparison():
        typer.echo(
            f"    {row['scorer']:<22} AUC {row['roc_auc']:.3f}  AP {row['average_precision']:.3f}"
            f"  recall@0.5% {row['recall']:.3f}  precision@0.5% {row['precision']:.3f}"
        )
    if not serve:
        typer.echo(f"done in {time.perf_counter() - began:.1f}s")
        return

    import polars as pl

    # The API starts knowing the payments before the replay (as a service that has been running
    # would), with only the labels that had arrived by then: payer history, velocity, label risk.
    history = data_dir / "demo-history.parquet"
    write_table(point_in_time_labels(table, None, split), history)
    payments = table.filter(pl.col("timestamp") >= split)
    # Labels arriving from the replay's start to now, of replayed payments and earlier ones.
    labels = table.filter(pl.col("label_timestamp") >= split)
    _serve_and_replay(
        settings,
        payments,
        labels,
        history,
        api_port=api_port or settings.service.port,
        dashboard_port=dashboard_port,
        exit_after_replay=exit_after_replay,
    )


def _serve_and_replay(
    settings: Settings,
    payments: pl.DataFrame,
    labels: pl.DataFrame,
    history: Path,
    *,
    api_port: int,
    dashboard_port: int,
    exit_after_replay: bool,
) -> None:
    from frisk.client import FriskClient
    from frisk.dashboard.launch import start_dashboard, wait_until_up
    from frisk.dashboard.replay import replay
    from frisk.service.keys import create_key
    from frisk.store import Role, default_url, open_ledger

    host = settings.service.host
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ledger = open_ledger(settings.database_url or default_url(settings.home))
    try:  # migrated here, before the API opens the same database
        key, _ = create_key(ledger, Role.ADMIN, "demo", actor="cli:demo")
    finally:
        ledger.close()

    api_url, dashboard_url = f"http://{host}:{api_port}", f"http://{host}:{dashboard_port}"
    # Ctrl-C, or SIGTERM from a process manager or a test, stops the API and the dashboard too.
    # SIGINT explicitly: a shell starts a background job with it ignored, and Python then
    # installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    processes: list[subprocess.Popen[bytes]] = []
    with (logs / "api.log").open("ab") as api_log, (logs / "dashboard.log").open("ab") as ui_log:
        try:
            processes.append(_start_api(settings, host, api_port, api_log, history))
            wait_until_up(
                f"{api_url}/health", processes[0], 120, what="the API", log=logs / "api.log"
            )
            processes.append(
                start_dashboard(api_url, host=host, port=dashboard_port, api_key=key, log=ui_log)
            )
            wait_until_up(
                f"{dashboard_url}/_stcore/health",
                processes[1],
                what="the dashboard",
                log=logs / "dashboard.log",
            )
            typer.echo(
                f"4/5 API on {api_url} (docs at {api_url}/docs), dashboard on {dashboard_url}"
            )

            client = FriskClient(api_url, key, timeout=60.0)
            try:
                done = replay(
                    client,
                    payments,
                    labels,
                    progress=lambda r: _progress(r.decisions, payments.height),
                )
            finally:
                client.close()
            actions = ", ".join(f"{n:,} {a}" for a, n in sorted(done.actions.items()))
            typer.echo(
                f"\r5/5 replayed {done.decisions:,} payments in {done.seconds:.1f}s ({actions}) "
                f"up to now, with the {done.labels:,} labels that arrived meanwhile"
            )
            typer.echo(
                f"\n    dashboard  {dashboard_url}\n    API        {api_url}/docs\n"
                f"    demo key   {key}   (admin; export FRISK_API_KEY=... for curl)\n"
                f"    logs       {logs}"
            )
            if exit_after_replay:
                return
            typer.echo("\nrunning; Ctrl-C stops the API and the dashboard")
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
            typer.echo("a server stopped; see the logs above", err=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.echo("\nstopping")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _start_api(
    settings: Settings, host: str, port: int, log: IO[bytes], history: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FRISK_HOME": str(settings.home),
        # The replay is one client sending a backlog as fast as it can, not a misbehaving key.
        "FRISK_SECURITY__RATE_LIMIT__ENABLED": "false",
    }
    command = [sys.executable, "-c", "from frisk.cli import main; main()", "serve"]
    return subprocess.Popen(
        [
            *command,
            "--registry",
            str(settings.registry_dir),
            "--host",
            host,
            "--port",
            str(port),
            "--warm-from",
            str(history),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _progress(done: int, total: int) -> None:
    if sys.stdout.isatty():
        typer.echo(f"\r5/5 replaying payments: {done:,} of {total:,}", nl=False)
