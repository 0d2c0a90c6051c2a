"""The container image, built by `make image` and run with host networking against this
machine's PostgreSQL: batch jobs (simulate, train), migrations as a one-shot, the API and the
dashboard, a payment scored through the container, /metrics, the image's own healthcheck, and
SIGTERM with every decision recorded. Every server listens on 127.0.0.1 on a free port; every
container is removed by id."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
import sqlalchemy as sa
from tests.deploy.conftest import Image, answers, free_port, wait_until

from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import transactions_of
from frisk.models.registry import Registry
from frisk.service.keys import create_key
from frisk.store import Role, open_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("docker")]

USER = 10001  # the image's numeric user: what it writes must be its own


@pytest.fixture(scope="module")
def home(frisk_image: Image, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    """FRISK_HOME, owned by the image's user, with a registry holding one promoted model made by
    the image's batch jobs (`frisk simulate`, then `frisk train --promote`)."""
    root = tmp_path_factory.mktemp("image-home")
    os.chown(root, USER, USER)
    mount = ["-v", f"{root}:/var/lib/frisk"]
    events = "/var/lib/frisk/events.parquet"
    jobs = [
        ["simulate", "--out", events, "--days", "10", "--payers", "300", "--fraud-rate", "0.03"],
        ["train", "--events", events, "--registry", "/var/lib/frisk/models", "--promote"],
    ]
    for job in jobs:
        done = _docker_run(frisk_image, *mount, frisk_image.tag, *job)
        assert done.returncode == 0, done.stderr
    assert Registry(root / "models").production() is not None
    traffic = simulate(SimulationConfig(days=2, payers=300, seed=5, fraud_rate=0.03))
    return root, traffic


@pytest.fixture
def containers(frisk_image: Image) -> Iterator[list[str]]:
    """Ids of the containers a test started; each is removed after it by its id."""
    started: list[str] = []
    yield started
    for cid in started:
        subprocess.run([frisk_image.docker, "rm", "-f", cid], capture_output=True, check=False)


def _secret(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "database_url"
    path.write_text(url + "\n")
    path.chmod(0o644)  # bind-mounted as it is: the image's user must read it
    return path


def _docker_run(image: Image, *args: str, detach: bool = False) -> subprocess.CompletedProcess[str]:
    command = [image.docker, "run", "--network", "host"]
    command += ["-d"] if detach else ["--rm"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, check=False, timeout=300
    )


def _health(image: Image, cid: str) -> str:
    out = subprocess.run(
        [image.docker, "inspect", "--format", "{{json .State}}", cid],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    state = json.loads(out)
    return str((state.get("Health") or {}).get("Status", state.get("Status")))


def test_the_image_migrates_serves_scores_and_stops_cleanly(
    frisk_image: Image,
    home: tuple[Path, pl.DataFrame],
    postgres_url: str,
    tmp_path: Path,
    containers: list[str],
) -> None:
    root, traffic = home
    secret = _secret(tmp_path, postgres_url)
    common = [
        "-v", f"{secret}:/run/secrets/database_url:ro",
        "-e", "FRISK_DATABASE_URL_FILE=/run/secrets/database_url",
    ]  # fmt: skip

    # 1. Migrations, a one-shot, as the image's user.
    migrate = _docker_run(frisk_image, *common, frisk_image.tag, "db", "upgrade")
    assert migrate.returncode == 0, migrate.stderr
    current = _docker_run(frisk_image, *common, frisk_image.tag, "db", "current")
    assert current.returncode == 0, current.stderr
    # The password-bearing URL is in no environment listing of the container.
    assert postgres_url not in current.stdout + current.stderr

    ledger = open_ledger(postgres_url)
    try:
        keys = {
            role: {"X-API-Key": create_key(ledger, role, role.value, actor="test")[0]}
            for role in (Role.SCORER, Role.ANALYST)
        }
    finally:
        ledger.close()

    # 2. The API on a free port of 127.0.0.1, its healthcheck every second.
    port = free_port()
    run = _docker_run(
        frisk_image,
        *common,
        "-v", f"{root}:/var/lib/frisk",
        "-e", "FRISK_SERVICE__HOST=127.0.0.1",
        "-e", f"FRISK_SERVICE__PORT={port}",
        "-e", "FRISK_SERVICE__SNAPSHOT_SECONDS=0",
        "--health-interval", "1s",
        "--health-start-period", "60s",
        frisk_image.tag,
        "serve",
        detach=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    api = run.stdout.strip()
    containers.append(api)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{url}/health"), timeout=120, what="the API's /health")
    wait_until(lambda: _health(frisk_image, api) == "healthy", timeout=60, what="healthy")

    # 3. A payment scored through the container, and /metrics read.
    bodies = list(transactions_of(traffic.head(60)))
    with httpx.Client(base_url=url, timeout=30) as http:
        first = http.post("/v1/score", json=bodies[0], headers=keys[Role.SCORER])
        assert first.status_code == 200, first.text
        assert first.json()["action"] in {"allow", "review", "block"}
        metrics = http.get("/metrics", headers=keys[Role.ANALYST])
        assert metrics.status_code == 200
        assert "frisk_decisions_total{" in metrics.text
        assert http.get("/metrics").status_code == 401

    # 4. The dashboard from the same image, with its own health URL.
    dash_port = free_port()
    run = _docker_run(
        frisk_image,
        "-e", f"HEALTHCHECK_URL=http://127.0.0.1:{dash_port}/_stcore/health",
        "--health-interval", "1s",
        frisk_image.tag,
        "dashboard", "--host", "127.0.0.1", "--port", str(dash_port), "--api", url,
        detach=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    dashboard = run.stdout.strip()
    containers.append(dashboard)
    wait_until(
        lambda: answers(f"http://127.0.0.1:{dash_port}/_stcore/health"),
        timeout=120,
        what="the dashboard",
    )
    wait_until(lambda: _health(frisk_image, dashboard) == "healthy", timeout=60, what="healthy")

    # 5. SIGTERM while payments are being scored: it stops cleanly, and every decision it
    # answered is in the ledger.
    answered: list[str] = []
    sender = threading.Thread(target=_send_until_refused, args=(url, bodies[1:], keys, answered))
    sender.start()
    wait_until(lambda: len(answered) >= 10, timeout=60, what="payments under way")
    stop = subprocess.run(
        [frisk_image.docker, "stop", "--time", "30", api], capture_output=True, check=False
    )
    sender.join(timeout=60)
    assert stop.returncode == 0
    code = subprocess.run(
        [frisk_image.docker, "inspect", "--format", "{{.State.ExitCode}}", api],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    logs = subprocess.run(
        [frisk_image.docker, "logs", api], capture_output=True, text=True, check=True
    )
    # uvicorn finishes the requests in flight and the app's shutdown, then re-raises SIGTERM to
    # its default handler: 143 (128 + 15) is a clean stop, as the log's last lines say.
    assert code in {"0", "143"}, logs.stderr[-3000:]
    assert "Application shutdown complete" in logs.stderr
    assert "Traceback" not in logs.stdout + logs.stderr
    recorded = _recorded(postgres_url)
    assert {bodies[0]["transaction_id"], *answered} <= recorded


def _send_until_refused(
    url: str, bodies: list[dict[str, object]], keys: dict[Role, dict[str, str]], out: list[str]
) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        for body in bodies * 20:
            try:
                r = http.post("/v1/score", json=body, headers=keys[Role.SCORER])
            except httpx.HTTPError:
                return  # the server is gone: what it answered before is what counts
            if r.status_code == 200:
                out.append(str(body["transaction_id"]))
            time.sleep(0.005)


def _recorded(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT transaction_id FROM decisions")).all()
        return {row[0] for row in rows}
    finally:
        engine.dispose()


def test_the_image_has_no_ca_bundle_of_the_build_and_runs_as_its_own_user(
    frisk_image: Image,
) -> None:
    probe = _docker_run(
        frisk_image,
        "--entrypoint", "bash",
        frisk_image.tag,
        "-c", "id -u; ls /run/secrets 2>&1; printenv | grep -c -i -E 'PIP_CERT|PASSWORD' || true",
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    uid, *rest = probe.stdout.split("\n")
    assert uid == "10001"
    assert "No such file" in rest[0]
    assert rest[1] == "0"
    history = subprocess.run(
        [frisk_image.docker, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "frisk:latest"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ca-certificates.crt" not in history
