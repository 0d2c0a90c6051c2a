"""Labels and the review queue over HTTP: a real model engine and uvicorn, both ledger back ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from frisk.config import load_settings
from frisk.data.simulator import SimulationConfig, simulate
from frisk.engine import ModelEngine, load_engine
from frisk.models import save_model
from frisk.models.pipeline import train_events
from frisk.service.app import create_app
from frisk.store import SqlLedger, default_url, open_ledger

if TYPE_CHECKING:
    from tests.integration.conftest import RoleKeys, StartServer

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("feedback_http")]

PAYEE_FRAUD = "fraud_count_by_payee_30d"
PAYER_FRAUD = "fraud_count_by_payer_30d"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feedback-model")
    table = simulate(SimulationConfig(days=10, payers=300, seed=3, fraud_rate=0.03))
    save_model(train_events(table), root / "model")
    return root / "model"


@dataclass
class Server:
    url: str
    engine: ModelEngine
    ledger: SqlLedger
    keys: dict[str, dict[str, str]]
    stop: Callable[[], None] = field(repr=False)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0)


@pytest.fixture
def serve(
    start_server: StartServer, role_keys: RoleKeys, model_dir: Path
) -> Iterator[Callable[..., Server]]:
    """``serve(home, database_url=..., **settings)``: the model engine behind uvicorn."""
    running: list[Server] = []

    def start(home: Path, *, database_url: str | None = None, **overrides: Any) -> Server:
        url = database_url or default_url(home)
        settings = load_settings(home=home, database_url=url, **overrides)
        ledger = open_ledger(url)
        engine = load_engine(model_dir, ledger=ledger, settings=settings)
        threaded = start_server(create_app(settings, engine, ledger=ledger))

        def stop() -> None:  # graceful, as on SIGTERM: the engine snapshots its state
            if not threaded.stopped:
                threaded.stop()
                engine.close()
                ledger.close()

        handle = Server(threaded.url, engine, ledger, role_keys(ledger), stop)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        handle.stop()


def txn(txn_id: str, at: datetime, *, payer: str, payee: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transaction_id": txn_id,
        "timestamp": at.isoformat(),
        "amount": 80.0,
        "currency": "EUR",
        "payer_id": payer,
        "payee_id": payee,
        "device_id": f"device-{payer}",
        "channel": "card",
        "extra": {"account_age_days": 400, "entry_mode": "chip"},
    }
    body.update(fields)
    return body


def score(server: Server, http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = http.post("/v1/score", json=body, headers=server.keys["scorer"])
    assert r.status_code == 200, r.text
    recorded = server.ledger.get_decision(body["transaction_id"])
    assert recorded is not None
    return dict(recorded.features)


def test_a_label_reaches_features_at_its_arrival_time_and_once_across_restarts(
    serve: Callable[..., Server], tmp_path: Path, database_url: str
) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    arrived = base + timedelta(days=1)
    server = serve(tmp_path, database_url=database_url)
    with server.client() as http:
        first = score(server, http, txn("a", base, payer="p-a", payee="shop"))
        assert first[PAYEE_FRAUD] == 0.0
        r = http.post(
            "/v1/labels",
            json={
                "transaction_id": "a",
                "label": "fraud",
                "source": "chargeback",
                "label_timestamp": arrived.isoformat(),
            },
            headers=server.keys["analyst"],
        )
        assert r.status_code == 200, r.text
        assert (r.json()["new"], r.json()["applied"]) == (1, 1)
        # Another payer of the same payee, before the label arrived: it does not see it.
        before = score(
            server, http, txn("b", arrived - timedelta(hours=1), payer="p-b", payee="shop")
        )
        assert before[PAYEE_FRAUD] == 0.0
        # After it arrived: the payee's, and the first payer's, fraud counts include it.
        after = score(
            server, http, txn("c", arrived + timedelta(hours=1), payer="p-a", payee="shop")
        )
        assert (after[PAYEE_FRAUD], after[PAYER_FRAUD]) == (1.0, 1.0)
        other = score(
            server, http, txn("d", arrived + timedelta(hours=2), payer="p-d", payee="cafe")
        )
        assert other[PAYEE_FRAUD] == 0.0
    server.stop()

    # A restart restores the snapshot and must not queue the label again (it would count twice).
    again = serve(tmp_path, database_url=database_url)
    with again.client() as http:
        later = score(
            again, http, txn("e", arrived + timedelta(hours=3), payer="p-e", payee="shop")
        )
        assert later[PAYEE_FRAUD] == 1.0


def test_labels_import_through_a_running_service(
    serve: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from frisk.cli import app

    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    server = serve(tmp_path / "home")
    with server.client() as http:
        score(server, http, txn("cb-1", base, payer="p-1", payee="shop"))
        score(server, http, txn("cb-2", base + timedelta(minutes=1), payer="p-2", payee="shop"))
    labels = tmp_path / "chargebacks.csv"
    arrived = (base + timedelta(hours=5)).isoformat()
    labels.write_text(
        "transaction_id,label,label_timestamp,label_source\n"
        f"cb-1,fraud,{arrived},chargeback\ncb-2,legit,{arrived},chargeback\n"
        f"cb-404,fraud,{arrived},chargeback\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("FRISK_API_KEY", server.keys["analyst"]["X-API-Key"])
    args = ["labels", "import", "--events", str(labels), "--api", server.url, "--batch", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 labels from 3 rows (0 skipped): 2 new, 0 changed, 0 unchanged, 1 unknown" in (
        result.output
    )
    stored = server.ledger.get_label("cb-1")
    assert stored is not None
    assert (stored.source, stored.updated_by) == ("chargeback", "analyst")
    with server.client() as http:
        later = score(
            server, http, txn("cb-3", base + timedelta(hours=6), payer="p-3", payee="shop")
        )
    assert later[PAYEE_FRAUD] == 1.0  # applied to the running service's features
    monkeypatch.setenv("FRISK_API_KEY", server.keys["scorer"]["X-API-Key"])
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0
    assert "the key in FRISK_API_KEY may not" in str(refused.exception)
    assert "labels 1-2" in str(refused.exception)


def test_a_review_resolved_over_http_labels_the_features(
    serve: Callable[..., Server], tmp_path: Path, database_url: str
) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    # Every decision is a review: the queue fills with whatever the model scores.
    everything = {"thresholds": {"medium": 0.0, "review": 0.0, "block": 1.0}}
    server = serve(tmp_path, database_url=database_url, service=everything)
    analyst = server.keys["analyst"]
    with server.client() as http:
        for i in range(3):
            score(server, http, txn(f"q{i}", base + timedelta(minutes=i), payer="p", payee="m"))
        queue = http.get("/v1/reviews", params={"limit": 2}, headers=analyst).json()
        assert queue["total"] == 3
        scores = [i["score"] for i in queue["items"]]
        assert scores == sorted(scores, reverse=True)
        rest = http.get(
            "/v1/reviews", params={"limit": 2, "cursor": queue["next_cursor"]}, headers=analyst
        ).json()
        listed = [i["transaction_id"] for i in queue["items"] + rest["items"]]
        assert sorted(listed) == ["q0", "q1", "q2"]

        r = http.post(
            "/v1/reviews/q0",
            json={"action": "resolve", "resolution": "fraud", "note": "victim called"},
            headers=analyst,
        )
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["version"]) == ("resolved", 1)
        detail = http.get("/v1/reviews/q0", headers=analyst).json()
        assert detail["label"]["source"] == "review"
        assert [h["transaction_id"] for h in detail["payer_history"]] == ["q2", "q1", "q0"]
        assert detail["audit"][0]["action"] == "review.resolve"
        assert http.get("/v1/reviews/q0", headers=server.keys["scorer"]).status_code == 403
        assert http.post("/v1/reviews/q0", json={"action": "reopen"}).status_code == 401

        # The label arrived now: a later payment to the same payee sees it.
        later = score(server, http, txn("q9", datetime.now(UTC), payer="p2", payee="m"))
        assert later[PAYEE_FRAUD] == 1.0
