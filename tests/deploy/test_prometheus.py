"""End to end: Debian's Prometheus and Alertmanager on 127.0.0.1 scraping a real Frisk (`frisk
serve` in its own process). Every metric the alert rules and the Grafana dashboards use is in
the live /metrics and has data in Prometheus; every dashboard query parses and runs; the rules
evaluate without error; and when Frisk stops, FriskInstanceDown reaches a webhook receiver of
this test's own. Every server here listens on 127.0.0.1 on a free port and is stopped by PID."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.deploy.conftest import (
    DEPLOY,
    answers,
    free_port,
    require_tool,
    stop_process,
    wait_until,
)

from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import transactions_of
from frisk.models.pipeline import train_events
from frisk.models.registry import Registry
from frisk.service.keys import create_key
from frisk.store import Role, open_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("prometheus")]

RULES = DEPLOY / "prometheus" / "rules.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NAME = re.compile(r"\b(frisk_[a-z0-9_]+|up)\b")


def rule_exprs() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            exprs.extend(t["expr"] for t in panel["targets"])
    return exprs


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (label values and strings left out)."""
    return set(_NAME.findall(_STRING.sub('""', expr)))


def test_metric_names_are_found_in_expressions() -> None:
    expr = 'sum by (le) (rate(frisk_x_bucket{job="frisk", route=~"frisk_not_a_name"}[5m])) / up'
    assert metric_names(expr) == {"frisk_x_bucket", "up"}


class _Receiver(BaseHTTPRequestHandler):
    alerts: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.alerts.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1 collecting what Alertmanager posts; shut down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.alerts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", server.alerts  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test started; each is stopped after it by its PID."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in reversed(started):
        stop_process(process)


def _start(
    processes: list[subprocess.Popen[bytes]], args: list[str], log: Path, **env: str
) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FRISK_")}
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=environ | env)
    processes.append(process)
    return process


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, f"{expr}: {r.text}"
    body = r.json()
    assert body["status"] == "success", f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_frisk_and_the_down_alert_reaches_a_webhook(
    tmp_path: Path,
    receiver: tuple[str, list[dict[str, Any]]],
    processes: list[subprocess.Popen[bytes]],
) -> None:
    prometheus_bin = require_tool("prometheus")
    alertmanager_bin = require_tool("prometheus-alertmanager")
    webhook, received = receiver

    # A registry with a production model and a challenger (the shadow's gauges), a ledger with
    # keys, and the service in a process of its own.
    registry = Registry(tmp_path / "home" / "models")
    versions = []
    for seed in (1, 2):
        table = simulate(SimulationConfig(days=10, payers=300, seed=seed, fraud_rate=0.03))
        versions.append(registry.register(train_events(table)))
        time.sleep(1.01)  # version ids carry the second they were registered
    registry.promote(versions[0])
    database_url = f"sqlite:///{tmp_path / 'home' / 'ledger.sqlite'}"
    ledger = open_ledger(database_url)
    try:
        keys = {
            role: {"X-API-Key": create_key(ledger, role, role.value, actor="test")[0]}
            for role in Role
        }
    finally:
        ledger.close()
    port = free_port()
    frisk = _start(
        processes,
        [str(Path(sys.executable).parent / "frisk"), "serve", "--host", "127.0.0.1"],
        tmp_path / "frisk.log",
        FRISK_HOME=str(tmp_path / "home"),
        FRISK_DATABASE_URL=database_url,
        FRISK_SERVICE__PORT=str(port),
        FRISK_SERVICE__SNAPSHOT_SECONDS="0",
        FRISK_MONITORING__REFRESH_SECONDS="0",
        FRISK_MONITORING__DRIFT_MIN_DECISIONS="20",
        FRISK_MONITORING__SHADOW_VERSION=versions[1],
    )
    api = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        if frisk.poll() is not None:  # it exited: say why rather than wait out the timeout
            raise AssertionError((tmp_path / "frisk.log").read_text()[-3000:])
        return answers(f"{api}/health")

    wait_until(serving, timeout=90, what="frisk serve")

    # Traffic that makes every series exist: decisions (a rule alerts on all of them, so the
    # live precision is defined), labels, an error.
    traffic = simulate(SimulationConfig(days=2, payers=300, seed=5, fraud_rate=0.05))
    bodies = list(transactions_of(traffic.head(60)))
    with httpx.Client(base_url=api, timeout=30) as http:
        rule = {"name": "all_to_review", "expression": "amount > 0", "action": "review"}
        assert http.post("/v1/rules", json=rule, headers=keys[Role.ADMIN]).status_code == 201
        for body in bodies:
            assert http.post("/v1/score", json=body, headers=keys[Role.SCORER]).status_code == 200
        labels = [
            {"transaction_id": b["transaction_id"], "label": "fraud" if i % 3 == 0 else "legit"}
            for i, b in enumerate(bodies)
        ]
        r = http.post("/v1/labels", json={"labels": labels}, headers=keys[Role.ANALYST])
        assert r.status_code == 200, r.text
        bad = http.post("/v1/score", json={"amount": "x"}, headers=keys[Role.SCORER])
        assert bad.status_code == 422
        exposition = http.get("/metrics", headers=keys[Role.ANALYST]).text

    # Every metric the rules and the dashboards read is in the live /metrics.
    used = set().union(*map(metric_names, rule_exprs() + dashboard_exprs())) - {"up"}
    exported = {s.name for f in text_string_to_metric_families(exposition) for s in f.samples}
    assert used - exported == set(), "rules or dashboards use metrics Frisk does not export"

    # Alertmanager (no cluster listener) posting to the receiver, Prometheus scraping every second
    # with the rules as shipped, but for FriskInstanceDown's "for" shortened to seconds.
    am_port, prom_port = free_port(), free_port()
    (tmp_path / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "test",
                    "group_by": ["alertname"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [{"name": "test", "webhook_configs": [{"url": webhook}]}],
            }
        )
    )
    _start(
        processes,
        [
            alertmanager_bin,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        tmp_path / "alertmanager.log",
    )
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule_ in group["rules"]:
            if rule_["alert"] == "FriskInstanceDown":
                rule_["for"] = "2s"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    key_file = tmp_path / "metrics_key"
    key_file.write_text(keys[Role.ANALYST]["X-API-Key"])
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "frisk",
                "authorization": {"type": "Bearer", "credentials_file": str(key_file)},
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    _start(
        processes,
        [
            prometheus_bin,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        tmp_path / "prometheus.log",
    )
    prometheus = f"http://127.0.0.1:{prom_port}"
    wait_until(lambda: answers(f"{prometheus}/-/ready"), timeout=60, what="Prometheus")
    wait_until(
        lambda: [s["value"][1] for s in _query(prometheus, 'up{job="frisk"}')] == ["1"],
        timeout=60,
        what="a successful scrape of Frisk",
    )
    time.sleep(3)  # a few scrapes, so that rate() over them has two samples

    # Every series the rules and dashboards use exists in Prometheus with data.
    missing = [name for name in sorted(used) if not _query(prometheus, f'{name}{{job="frisk"}}')]
    assert missing == []
    # Every dashboard query parses and runs as Grafana would send it.
    for expr in dashboard_exprs():
        _query(prometheus, expr.replace("$__rate_interval", "1m").replace("$instance", ".*"))
    # The rules evaluate without error.
    wait_until(
        lambda: _rule_health(prometheus) == {"ok"},
        timeout=30,
        what="every rule evaluated",
    )

    # Frisk stops (SIGTERM, by its PID): the down alert reaches the receiver.
    stop_process(frisk)
    wait_until(
        lambda: any(
            a["labels"]["alertname"] == "FriskInstanceDown" and a["status"] == "firing"
            for post in received
            for a in post["alerts"]
        ),
        timeout=60,
        what="FriskInstanceDown at the webhook",
    )
    down = next(
        a
        for post in received
        for a in post["alerts"]
        if a["labels"]["alertname"] == "FriskInstanceDown"
    )
    assert down["labels"]["instance"] == f"127.0.0.1:{port}"
    assert down["labels"]["severity"] == "page"


def _rule_health(prometheus: str) -> set[str]:
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 11
    return {r["health"] for r in rules}
