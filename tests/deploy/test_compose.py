"""The compose stack's Frisk services run with Debian's docker-compose: migrate (one-shot), the
API and the dashboard, from deploy/compose/compose.yaml with a test override that points them at
this machine's PostgreSQL with host networking (no image can be pulled here, so the stack's
PostgreSQL, Redis and nginx are not started; the start order is checked in test_artifacts.py).
Everything listens on 127.0.0.1 on free ports and the project is taken down by its name."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from tests.deploy.conftest import (
    DEPLOY,
    DOCKER,
    Image,
    answers,
    free_port,
    require_tool,
    wait_until,
)

from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import transactions_of
from frisk.models.pipeline import train_events
from frisk.models.registry import Registry
from frisk.service.keys import create_key
from frisk.store import Role, open_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("docker")]

USER = 10001


@pytest.fixture
def project(tmp_path: Path, frisk_image: Image) -> Iterator[list[str]]:
    """``docker-compose -p <unique> -f compose.yaml -f <override>``; taken down after the test."""
    compose = require_tool("docker-compose")
    name = f"frisktest{uuid.uuid4().hex[:10]}"
    command = [compose, "-p", name, "-f", str(DEPLOY / "compose" / "compose.yaml")]
    command += ["-f", str(tmp_path / "override.yaml")]
    yield command
    subprocess.run(
        [*command, "down", "--volumes", "--remove-orphans", "--timeout", "20"],
        capture_output=True,
        env=_env(tmp_path),
        check=False,
        timeout=120,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRISK_")}
    env["FRISK_IMAGE"] = "frisk:latest"
    for name in ("DATABASE_URL", "POSTGRES_PASSWORD", "METRICS_KEY", "GRAFANA_PASSWORD"):
        env[f"FRISK_{name}_SECRET"] = str(tmp_path / "secrets" / name.lower())
    return env


def test_the_compose_services_migrate_serve_and_score(
    tmp_path: Path, project: list[str], postgres_url: str
) -> None:
    # The secrets, as the stack's .env names them; the ledger is this machine's PostgreSQL.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("postgres_password", "metrics_key", "grafana_password"):
        (secrets / name).write_text("unused-here\n")
    (secrets / "database_url").write_text(postgres_url + "\n")
    for path in secrets.iterdir():
        path.chmod(0o644)
    # FRISK_HOME with a promoted model, owned by the image's user.
    home = tmp_path / "home"
    registry = Registry(home / "models")
    table = simulate(SimulationConfig(days=10, payers=300, seed=3, fraud_rate=0.03))
    registry.promote(registry.register(train_events(table)))
    for path in [home, *home.rglob("*")]:
        os.chown(path, USER, USER)

    port, dash_port = free_port(), free_port()
    host = {"network_mode": "host", "volumes": [f"{home}:/var/lib/frisk"]}
    override = {
        "version": "3.9",
        "services": {
            "migrate": host,
            "api": {
                **host,
                "environment": {
                    "FRISK_SERVICE__HOST": "127.0.0.1",
                    "FRISK_SERVICE__PORT": str(port),
                    "FRISK_SERVICE__SNAPSHOT_SECONDS": "0",
                },
            },
            "dashboard": {
                **host,
                "command": [
                    "dashboard", "--host", "127.0.0.1", "--port", str(dash_port),
                    "--api", f"http://127.0.0.1:{port}",
                ],
                "environment": {
                    "HEALTHCHECK_URL": f"http://127.0.0.1:{dash_port}/_stcore/health"
                },
            },
        },
    }  # fmt: skip
    (tmp_path / "override.yaml").write_text(yaml.safe_dump(override))
    env = _env(tmp_path)

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*project, *args], capture_output=True, text=True, env=env, check=False, timeout=300
        )

    migrate = compose("run", "--rm", "--no-deps", "migrate")
    assert migrate.returncode == 0, migrate.stderr
    up = compose("up", "-d", "--no-deps", "api")
    assert up.returncode == 0, up.stderr
    api = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{api}/health"), timeout=120, what="the compose API")
    up = compose("up", "-d", "--no-deps", "dashboard")
    assert up.returncode == 0, up.stderr

    ledger = open_ledger(postgres_url)
    try:
        scorer = {"X-API-Key": create_key(ledger, Role.SCORER, "compose", actor="test")[0]}
    finally:
        ledger.close()
    body = next(iter(transactions_of(table.tail(1))))
    body["transaction_id"] = "compose-1"
    r = httpx.post(f"{api}/v1/score", json=body, headers=scorer, timeout=30)
    assert r.status_code == 200, r.text
    wait_until(
        lambda: answers(f"http://127.0.0.1:{dash_port}/_stcore/health"),
        timeout=120,
        what="the compose dashboard",
    )
    # The image's own healthcheck, as compose runs it, reports the API healthy.
    api_id = compose("ps", "-q", "api").stdout.strip()
    assert api_id

    def healthy() -> bool:
        state = subprocess.run(
            [DOCKER, "inspect", "--format", "{{.State.Health.Status}}", api_id],
            capture_output=True,
            text=True,
            check=False,
        )
        return state.stdout.strip() == "healthy"

    wait_until(healthy, timeout=90, what="the compose API's healthcheck")
