"""Promotion, rollback, the pointer watcher, shadow scoring, live figures and drift over HTTP."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import polars as pl
import pytest
import sqlalchemy as sa

from frisk.config import load_settings
from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import transactions_of
from frisk.engine import load_engine
from frisk.models.pipeline import train_events
from frisk.models.registry import Registry
from frisk.service.app import create_app
from frisk.store import SqlLedger, open_ledger
from frisk.store.tables import shadow_decisions

if TYPE_CHECKING:
    from tests.integration.conftest import RoleKeys, StartServer

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("models_http")]


@dataclass(frozen=True)
class Trained:
    registry: Path  # a (in production) and b registered, same catalogue
    a: str
    b: str
    traffic: pl.DataFrame  # later payments to score


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("models-http")
    registry = Registry(root / "registry")
    versions = []
    for seed in (1, 2):
        table = simulate(SimulationConfig(days=10, payers=300, seed=seed, fraud_rate=0.03))
        versions.append(registry.register(train_events(table)))
        time.sleep(1.01)  # version ids carry the second they were registered
    registry.promote(versions[0])
    traffic = simulate(SimulationConfig(days=3, payers=300, seed=3, fraud_rate=0.03))
    return Trained(root / "registry", versions[0], versions[1], traffic)


@dataclass
class Server:
    url: str
    app: Any
    ledger: SqlLedger
    keys: dict[str, dict[str, str]]
    registry: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)


@pytest.fixture
def serve(
    start_server: StartServer, role_keys: RoleKeys, trained: Trained, tmp_path: Path
) -> Iterator[Callable[..., Server]]:
    """``serve(database_url, **monitoring)``: a server on a copy of the trained registry."""
    opened: list[tuple[Any, SqlLedger]] = []

    def start(database_url: str | None = None, **monitoring: Any) -> Server:
        registry = tmp_path / "registry"
        shutil.copytree(trained.registry, registry)
        url = database_url or f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        settings = load_settings(
            home=tmp_path,
            database_url=url,
            monitoring={"refresh_seconds": 0, "drift_min_decisions": 20, **monitoring},
        )
        ledger = open_ledger(url)
        engine = load_engine(None, registry, ledger=ledger, settings=settings)
        app = create_app(settings, engine, ledger=ledger)
        threaded = start_server(app)
        opened.append((engine, ledger))
        return Server(threaded.url, app, ledger, role_keys(ledger), registry)

    yield start
    for engine, ledger in opened:
        engine.close()
        ledger.close()


def _score(server: Server, http: httpx.Client, rows: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for body in transactions_of(rows):
        r = http.post("/v1/score", json=body, headers=server.keys["scorer"])
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def _corrupt(registry: Path, version: str) -> None:
    path = registry / "versions" / version / "thresholds.json"
    path.write_text(path.read_text().replace("0.", "0.9", 1))


def test_shadow_is_recorded_and_never_returned(
    serve: Callable[..., Server], trained: Trained, database_url: str
) -> None:
    server = serve(database_url)
    with server.client() as http:
        analyst, admin = server.keys["analyst"], server.keys["admin"]
        denied = http.post("/v1/models/shadow", json={"version": trained.b}, headers=analyst)
        assert denied.status_code == 403
        r = http.post("/v1/models/shadow", json={"version": trained.b}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["shadow"]["version"] == trained.b
        assert r.json()["serving"]["version"] == trained.a

        decided = _score(server, http, trained.traffic.head(40))
        assert {d["model_version"] for d in decided} == {trained.a}
        assert trained.b not in str(decided)
        assert server.app.state.model_ops.shadow.flush()

        with server.ledger.engine.connect() as conn:
            rows = conn.execute(
                sa.select(shadow_decisions).order_by(shadow_decisions.c.transaction_id)
            ).all()
        assert len(rows) == 40
        assert {row.model_version for row in rows} == {trained.b}
        # The shadow scored production's feature vector: the same as scoring it directly.
        challenger = Registry(server.registry).load(trained.b)
        for row in rows[:10]:
            recorded = server.ledger.get_decision(row.transaction_id)
            assert recorded is not None
            vector = [recorded.features[name] for name in challenger.feature_names]
            assert row.score == pytest.approx(challenger.score_one(vector), abs=1e-9)

        listing = http.get("/v1/models", headers=analyst).json()
        stages = {v["version"]: v["stage"] for v in listing["versions"]}
        assert stages == {trained.a: "production", trained.b: "shadow"}
        performance = http.get("/v1/monitoring/performance", headers=analyst).json()
        roles = {(m["model_version"], m["role"]): m["decisions"] for m in performance["models"]}
        assert roles == {(trained.a, "production"): 40, (trained.b, "shadow"): 40}

        stopped = http.post("/v1/models/shadow", json={"version": None}, headers=admin)
        assert stopped.json()["shadow"] is None
        _score(server, http, trained.traffic.slice(40, 5))
        with server.ledger.engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(shadow_decisions))
            assert count.scalar_one() == 40


def test_a_shadow_that_fails_to_load_changes_nothing(
    serve: Callable[..., Server], trained: Trained
) -> None:
    server = serve()
    _corrupt(server.registry, trained.b)
    with server.client() as http:
        admin = server.keys["admin"]
        unknown = http.post("/v1/models/shadow", json={"version": "m-nope"}, headers=admin)
        assert unknown.status_code == 404
        assert "m-nope" in unknown.json()["message"]
        broken = http.post("/v1/models/shadow", json={"version": trained.b}, headers=admin)
        assert broken.status_code == 422
        assert "checksum" in broken.json()["message"]
        assert trained.a in broken.json()["message"]  # still serving
        serving = http.post("/v1/models/shadow", json={"version": trained.a}, headers=admin)
        assert serving.status_code == 409
        listing = http.get("/v1/models", headers=server.keys["analyst"]).json()
        assert listing["shadow"] is None
        assert listing["serving"]["version"] == trained.a
        assert _score(server, http, trained.traffic.head(3))[0]["model_version"] == trained.a


def test_promote_and_rollback_swap_without_a_restart(
    serve: Callable[..., Server], trained: Trained
) -> None:
    server = serve(registry_poll_seconds=0)
    registry = Registry(server.registry)
    with server.client() as http:
        admin = server.keys["admin"]
        assert (
            http.post(
                "/v1/models/promote", json={"version": trained.b}, headers=server.keys["analyst"]
            ).status_code
            == 403
        )
        r = http.post("/v1/models/promote", json={"version": trained.b}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["serving"]["version"] == trained.b
        assert registry.production() == trained.b
        assert _score(server, http, trained.traffic.head(2))[0]["model_version"] == trained.b

        back = http.post("/v1/models/rollback", headers=admin)
        assert back.status_code == 200, back.text
        assert back.json()["serving"]["version"] == trained.a
        assert registry.production() == trained.a
        stages = {v["version"]: v["stage"] for v in back.json()["versions"]}
        assert stages == {trained.a: "production", trained.b: "archived"}
        assert http.post("/v1/models/rollback", headers=admin).status_code == 404

        audit = [(e.action, e.after) for e in server.ledger.audit_log(target="model")]
        assert ("model.rollback", {"version": trained.a}) in audit
        assert ("model.promote", {"version": trained.b}) in audit


def test_a_promotion_that_fails_to_load_keeps_production_serving(
    serve: Callable[..., Server], trained: Trained
) -> None:
    server = serve(registry_poll_seconds=0)
    _corrupt(server.registry, trained.b)
    registry = Registry(server.registry)
    with server.client() as http:
        r = http.post(
            "/v1/models/promote", json={"version": trained.b}, headers=server.keys["admin"]
        )
        assert r.status_code == 422
        body = r.json()
        assert body["error"] == "model_invalid"
        assert "thresholds.json" in body["message"]
        assert f"still serving {trained.a}" in body["message"]
        assert registry.production() == trained.a  # the pointer never moved
        assert (
            http.get("/v1/models", headers=server.keys["analyst"]).json()["serving"]["version"]
            == trained.a
        )
        assert _score(server, http, trained.traffic.head(2))[1]["model_version"] == trained.a


def test_the_service_follows_the_registry_pointer(
    serve: Callable[..., Server], trained: Trained
) -> None:
    server = serve(registry_poll_seconds=0.1)
    registry = Registry(server.registry)
    with server.client() as http:
        analyst = server.keys["analyst"]
        registry.promote(trained.b)  # what `frisk models promote` and `frisk retrain` do
        _wait_for(
            lambda: (
                http.get("/v1/models", headers=analyst).json()["serving"]["version"] == trained.b
            )
        )
        assert _score(server, http, trained.traffic.head(1))[0]["model_version"] == trained.b
        assert "frisk_model_reload_failed 0.0" in http.get("/metrics", headers=analyst).text

        # A broken version put in production behind the service's back: reported, not served.
        _corrupt(server.registry, trained.a)
        pointer = server.registry / "production.json"
        edited = pointer.with_suffix(".edit")
        edited.write_text(
            pointer.read_text().replace(f'"version": "{trained.b}"', f'"version": "{trained.a}"', 1)
        )
        # Atomically, as the registry writes it: the service polls and must not read half a file.
        edited.replace(pointer)
        _wait_for(lambda: http.get("/v1/models", headers=analyst).json()["reload_error"])
        listing = http.get("/v1/models", headers=analyst).json()
        assert listing["serving"]["version"] == trained.b
        assert "checksum" in listing["reload_error"]
        # What the FriskModelReloadFailed alert (deploy/prometheus) watches.
        assert "frisk_model_reload_failed 1.0" in http.get("/metrics", headers=analyst).text


def test_live_figures_and_drift(serve: Callable[..., Server], trained: Trained) -> None:
    server = serve()
    with server.client() as http:
        analyst = server.keys["analyst"]
        no_window = http.get("/v1/monitoring/drift", headers=analyst).json()
        assert no_window["window"]["decisions"] == 0
        assert no_window["score"] == {"psi": None, "alert": False}

        rows = trained.traffic.head(120)
        _score(server, http, rows)
        frauds = rows.filter(pl.col("label") == 1).get_column("transaction_id").to_list()
        for txn in frauds:  # labels as the feedback helper's API would store them
            server.ledger.set_label(
                txn,
                "fraud",
                label_timestamp=rows.get_column("timestamp").max(),  # type: ignore[arg-type]
                source="test",
                actor="test",
            )
        drift = http.get("/v1/monitoring/drift", headers=analyst).json()
        assert drift["window"]["decisions"] == 120
        assert drift["reference"]["model_version"] == trained.a
        assert drift["reference"]["rows"] > 0
        assert drift["score"]["psi"] is not None
        assert drift["alert_level"] == 0.2
        psis = [f["psi"] for f in drift["features"]]
        assert len(psis) == 10
        assert psis == sorted(psis, reverse=True)
        small = http.get("/v1/monitoring/drift?decisions=10", headers=analyst).json()
        assert small["window"]["decisions"] == 10
        assert small["score"]["psi"] is None  # under drift_min_decisions

        performance = http.get("/v1/monitoring/performance", headers=analyst).json()
        (model,) = performance["models"]
        assert model["decisions"] == 120
        assert model["fraud"] == len(frauds)
        assert sum(d["decisions"] for d in performance["days"]) == 120
        stats = http.get("/v1/stats", headers=analyst).json()
        assert sum(d["decisions"] for d in stats["live"]) == 120

        metrics = http.get("/metrics", headers=analyst).text
        assert (
            f'frisk_live_decisions{{model_version="{trained.a}",role="production"}} 120.0'
            in metrics
        )
        assert "frisk_drift_score_psi " in metrics
        assert "frisk_drift_feature_psi{feature=" in metrics
        assert "frisk_drift_psi_alert_level 0.2" in metrics
        assert http.get("/v1/monitoring/drift", headers=server.keys["scorer"]).status_code == 403


def _wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
