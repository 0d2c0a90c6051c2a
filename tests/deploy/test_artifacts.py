"""The deployment files, checked without running them: Dockerfile lint, the compose file against
the compose specification's schema, Prometheus and Alertmanager configs and the alert rules'
unit tests, the Grafana dashboards, and the Helm chart rendered and validated against the
Kubernetes schemas. The running checks are in test_image.py, test_compose.py and
test_prometheus.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.conftest import DEPLOY, ROOT, require_tool

# The compose specification's schema as Debian's docker-compose (1.29, which runs the stack in
# test_compose.py) ships it; the PyPI package docker-compose==1.29.2 holds the same file.
COMPOSE_SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
KUBERNETES_VERSION = "1.30.0"
CHART = DEPLOY / "helm" / "frisk"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))


def _run(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, stdout_only: bool = False
) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout if stdout_only else done.stdout + done.stderr


# -- Dockerfile ----------------------------------------------------------------------------


def test_the_dockerfile_is_hadolint_clean() -> None:
    hadolint = require_tool("hadolint", str(Path(os.sys.executable).parent / "hadolint"))
    _run(hadolint, "--failure-threshold", "info", "Dockerfile")


def test_the_final_stage_gets_no_ca_bundle_and_runs_as_a_numeric_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    runtime = text[text.index("AS runtime") :]
    assert "secret" not in runtime  # the CA bundle is a build secret of the earlier stages only
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert re.search(r"^HEALTHCHECK ", runtime, re.M)
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in text


# -- compose -------------------------------------------------------------------------------


def _compose_env(tmp_path: Path) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    for name in ("DATABASE_URL", "POSTGRES_PASSWORD", "METRICS_KEY", "GRAFANA_PASSWORD"):
        secret = tmp_path / name.lower()
        secret.write_text("not-a-real-secret\n")
        env[f"FRISK_{name}_SECRET"] = str(secret)
    return env


def test_the_compose_file_validates_against_the_compose_specification(tmp_path: Path) -> None:
    compose = require_tool("docker-compose")
    jsonschema = pytest.importorskip("jsonschema")
    if not COMPOSE_SCHEMA.is_file():
        require_tool("compose_spec.json (Debian's docker-compose)", "/nonexistent")
    compose_file = DEPLOY / "compose" / "compose.yaml"
    # Its $schema names draft 2019-09 by an address jsonschema does not know: say it here.
    spec = jsonschema.Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    # The file as written (interpolation left in place) and as docker-compose resolves it,
    # with every profile.
    raw = yaml.safe_load(compose_file.read_text())
    raw.pop("x-frisk")  # an extension field: allowed at the top level by the spec, not by 1.29's
    spec.validate(_with_integers(raw))
    resolved = _run(
        compose,
        "-f",
        str(compose_file),
        "--profile",
        "observability",
        "--profile",
        "mlflow",
        "config",
        env=_compose_env(tmp_path),
        stdout_only=True,
    )
    config = yaml.safe_load(resolved)
    spec.validate(config)
    services = config["services"]
    assert {"postgres", "redis", "migrate", "api", "dashboard", "proxy"} <= set(services)
    assert {"prometheus", "alertmanager", "grafana", "mlflow"} <= set(services)
    # Published ports listen on 127.0.0.1 unless FRISK_BIND says otherwise.
    for name, service in services.items():
        for port in service.get("ports", []):
            published = port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]
            assert published == "127.0.0.1", (name, port)
    # Pinned images (but Frisk's own, which `make image` tags), and the start order:
    # postgres healthy -> migrate done -> api -> dashboard.
    for name, service in services.items():
        image = service["image"]
        assert image.startswith("frisk:") or re.search(r":v?\d+\.\d+", image), (name, image)
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    api_needs = services["api"]["depends_on"]["migrate"]["condition"]
    assert api_needs == "service_completed_successfully"
    assert services["dashboard"]["depends_on"]["api"]["condition"] == "service_healthy"
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    # No password in any environment: the ledger URL and the PostgreSQL password are files.
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            assert "PASSWORD" not in key or key.endswith("_FILE"), (name, key)
            assert "not-a-real-secret" not in str(value), (name, key)


def _with_integers(node: Any) -> Any:
    """Interpolated numbers as docker-compose reads them: ``${X:-1}`` is the integer 1."""
    if isinstance(node, dict):
        return {k: _with_integers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_integers(v) for v in node]
    if isinstance(node, str) and (m := re.fullmatch(r"\$\{\w+:-(\d+)\}", node)):
        return int(m.group(1))
    return node


def test_compose_stops_with_a_message_when_a_secret_is_not_given(tmp_path: Path) -> None:
    compose = require_tool("docker-compose")
    env = _compose_env(tmp_path)
    del env["FRISK_DATABASE_URL_SECRET"]
    done = subprocess.run(
        [compose, "-f", str(DEPLOY / "compose" / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode != 0
    assert "set FRISK_DATABASE_URL_SECRET to a file" in done.stderr


# -- Prometheus and Alertmanager -------------------------------------------------------------


def test_promtool_checks_the_config_and_rules_and_their_unit_tests_pass(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    prometheus = DEPLOY / "prometheus"
    # The compose config as it is, with its secret file's path pointed at one that exists here.
    key = tmp_path / "frisk_metrics_key"
    key.write_text("frisk_analyst_key\n")
    config = (prometheus / "prometheus.yml").read_text()
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/run/secrets/frisk_metrics_key", str(key))
    )
    (tmp_path / "rules.yml").write_bytes((prometheus / "rules.yml").read_bytes())
    assert "SUCCESS" in _run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    out = _run(promtool, "check", "rules", str(prometheus / "rules.yml"))
    assert "SUCCESS: 11 rules found" in out
    out = _run(promtool, "test", "rules", "tests/rules_test.yml", cwd=prometheus)
    assert "SUCCESS" in out


def test_every_alert_has_a_firing_pending_and_quiet_case() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((DEPLOY / "prometheus" / "tests" / "rules_test.yml").read_text())
    firing, pending, quiet = set(), set(), set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
            # An instance in the case's series that the alert does not name stays quiet.
            named = {a["exp_labels"].get("instance") for a in check["exp_alerts"]}
            series = {re.search(r'instance="([^"]+)"', s["series"]) for s in case["input_series"]}
            if check["exp_alerts"] and {m.group(1) for m in series if m} - named:
                quiet.add(check["alertname"])
        for check in case.get("promql_expr_test", []):
            for sample in check["exp_samples"]:
                if 'alertstate="pending"' in sample["labels"]:
                    pending.add(re.search(r'alertname="(\w+)"', sample["labels"]).group(1))
    assert alerts == firing
    assert alerts - {"FriskDegradedDecisions"} == pending  # it fires at once (for: 0m)
    assert alerts == quiet


def test_amtool_checks_the_alertmanager_config() -> None:
    amtool = require_tool("amtool")
    config = DEPLOY / "prometheus" / "alertmanager.yml"
    assert "SUCCESS" in _run(amtool, "check-config", str(config))


# -- Grafana ---------------------------------------------------------------------------------


def test_the_dashboards_are_provisioned_and_cover_what_on_call_needs() -> None:
    assert [p.stem for p in DASHBOARDS] == ["decisions", "model", "runtime"]
    titles = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"].startswith("frisk-")
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board["panels"]:
            titles.add(panel["title"])
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert 'job="frisk"' in target["expr"] or target["expr"].startswith("up")
    for needed in ("Scoring latency percentiles", "Alert rate", "Drift per feature", "GC pause"):
        assert any(needed in t for t in titles), needed
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "frisk.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/frisk"


# -- systemd ---------------------------------------------------------------------------------


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    frisk = str(Path(os.sys.executable).parent / "frisk")
    units = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        # As installed, but with this checkout's frisk where the unit expects /opt/frisk's.
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/frisk/bin/frisk", frisk))
        units.append(str(copy))
    assert len(units) == 2
    done = subprocess.run(
        [analyze, "verify", *units], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    # It exits 0 on unknown keys too, with a line saying so: any output is a finding.
    assert done.returncode == 0
    assert done.stdout + done.stderr == ""


# -- nginx -----------------------------------------------------------------------------------

NGINX = "/var/cache/frisk-tools/nginx/usr/sbin/nginx"  # unpacked by deploy-tools.sh, not installed


@pytest.mark.parametrize("site", ["frisk.conf", "compose.conf"])
def test_nginx_accepts_the_sites(site: str, tmp_path: Path) -> None:
    nginx = require_tool("nginx", NGINX)
    text = (DEPLOY / "nginx" / site).read_text()
    # A throwaway certificate where the site expects the real one; compose's service names
    # (resolved by compose's network) as addresses, which nginx -t must resolve here.
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=frisk.example.org",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        capture_output=True,
        check=True,
    )  # fmt: skip
    text = text.replace("/etc/ssl/frisk/fullchain.pem", str(tmp_path / "cert.pem"))
    text = text.replace("/etc/ssl/frisk/privkey.pem", str(tmp_path / "key.pem"))
    text = text.replace("server api:8000", "server 127.0.0.1:8000")
    text = text.replace("server dashboard:8501", "server 127.0.0.1:8501")
    (tmp_path / "site.conf").write_text(text)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp}\n    include {tmp_path / 'site.conf'};\n}}\n"
    )
    out = _run(nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"))
    assert "test is successful" in out


# -- Helm ------------------------------------------------------------------------------------

_FULL = {
    "existingSecret": "frisk-secrets",
    "ingress": {"enabled": True, "tls": {"enabled": True, "secretName": "frisk-tls"}},
    "autoscaling": {"enabled": True},
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "env": {"FRISK_API__ALERT_BUDGET": "0.01"},
}


def _helm() -> Any:
    try:
        import helm_python
    except ImportError:
        require_tool("helm-python-sdk (a Helm renderer)", "/nonexistent")
    return helm_python


def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = _helm().Chart.load(str(CHART))
    try:
        rendered = chart.render(values, name="frisk", namespace="fraud", is_install=True)
    finally:
        chart.close()
    docs = []
    for text in rendered.values():
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def test_the_chart_renders_and_every_manifest_validates_against_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = _render(_FULL)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "Deployment",
            "Deployment",
            "Service",
            "Service",
            "Job",
            "PersistentVolumeClaim",
            "Ingress",
            "HorizontalPodAutoscaler",
            "ServiceMonitor",
            "PrometheusRule",
        ]
    )
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # custom resources: no schema in Kubernetes' own; checked below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)

    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    api = by_name[("Deployment", "frisk-api")]["spec"]["template"]["spec"]
    container = api["containers"][0]
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["securityContext"]["runAsNonRoot"] is True
    assert api["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FRISK_DATABASE_URL_FILE"] == "/etc/frisk/secrets/database-url"
    assert "FRISK_DATABASE_URL" not in env
    job = by_name[("Job", "frisk-migrate")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
    # The PrometheusRule holds exactly deploy/prometheus/rules.yml's groups.
    rule = by_name[("PrometheusRule", "frisk")]
    ours = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    assert rule["spec"]["groups"] == ours["groups"]
    monitor = by_name[("ServiceMonitor", "frisk")]["spec"]["endpoints"][0]
    credentials = monitor["authorization"]["credentials"]
    assert credentials == {"name": "frisk-secrets", "key": "metrics-key"}


def test_helm_lint_finds_nothing_above_info() -> None:
    report = _helm().lint(str(CHART), _FULL, strict=True, kube_version=KUBERNETES_VERSION)
    assert report["errors"] == []
    # Severity 1 is INFO (e.g. "icon is recommended"); 2 and up are warnings and errors.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_the_chart_renders_with_only_the_required_value() -> None:
    kinds = sorted(d["kind"] for d in _render({"existingSecret": "frisk-secrets"}))
    assert kinds == [
        "Deployment",
        "Deployment",
        "Job",
        "PersistentVolumeClaim",
        "Service",
        "Service",
    ]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({}, "/existingSecret"),  # credentials only from a Secret, which must be named
        ({"existingSecret": "s", "api": {"replicas": 3}}, "/api/replicas"),
        (
            {"existingSecret": "s", "podSecurityContext": {"runAsNonRoot": False, "runAsUser": 0}},
            "runAsNonRoot",
        ),
        (
            {"existingSecret": "s", "env": {"FRISK_DATABASE_URL": "postgresql://u:pw@db/f"}},
            "FRISK_DATABASE_URL",
        ),
        ({"existingSecret": "s", "servce": {"port": 80}}, "servce"),
    ],
)
def test_values_schema_rejects_a_bad_values_file(values: dict[str, Any], named: str) -> None:
    helm = _helm()
    with pytest.raises(helm.HelmValuesError, match=re.escape(named)):
        _render(values)
