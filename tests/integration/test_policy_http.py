"""Rules and lists through the real service: replay parity with backtests, hot reload, audit."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import polars as pl
import pytest

from frisk.data.simulator import SimulationConfig, simulate
from frisk.data.table import transactions_of
from frisk.models import FraudModel, load_model
from frisk.models.pipeline import model_catalogue
from frisk.policy import Rule
from frisk.policy.history import backtest_events

if TYPE_CHECKING:
    from tests.integration.conftest import ServeModel

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("policy_http")]

RULES = [
    Rule("burst", "txn_count_by_payer_1h > 1 || distinct_payee_by_payer_24h >= 3", "review", 10),
    Rule("big_new_payee", "first_time_by_payer_payee == 1 && amount > 300", "block", 20),
    Rule("scored", 'score > 0.2 || tier == "high" || risk_score > 40', "tag", 30),
    Rule("mule", 'payee_id in blocklist("mules")', "block", 5),
    Rule("night", "is_night == 1 && amount > 50", "block", 1, "shadow"),
]


@pytest.fixture
def model_dir(policy_model_dir: Path) -> Path:
    return policy_model_dir


@pytest.fixture
def serve(serve_model: ServeModel) -> ServeModel:
    return serve_model


def rule_json(rule: Rule) -> dict[str, Any]:
    return {k: v for k, v in rule.to_json().items() if k != "name"}


def test_backtests_count_what_the_live_service_decided(
    serve: ServeModel, database_url: str, model_dir: Path
) -> None:
    # Labels never reach the service here, so the backtest's events carry no label events
    # either (label_timestamp null): label features see nothing on both sides.
    events = simulate(SimulationConfig(days=5, payers=100, seed=5, fraud_rate=0.04))
    events = events.with_columns(
        pl.lit(None, dtype=events["label_timestamp"].dtype).alias("label_timestamp")
    )
    mules = events.get_column("payee_id").unique().sort().to_list()[:15]
    served = serve(database_url)
    admin, analyst = served.keys["admin"], served.keys["analyst"]
    with served.client() as http:
        assert (
            http.post(
                "/v1/lists", json={"name": "mules", "kind": "block"}, headers=admin
            ).status_code
            == 201
        )
        entries = {"entries": [{"value": m} for m in mules]}
        assert http.post("/v1/lists/mules/entries", json=entries, headers=admin).status_code == 200
        for rule in RULES:
            assert (
                http.put(f"/v1/rules/{rule.name}", json=rule_json(rule), headers=admin).status_code
                == 200
            )
        for body in transactions_of(events):
            answer = http.post("/v1/score", json=body, headers=served.keys["scorer"])
            assert answer.status_code == 200, answer.text
        day0 = events["timestamp"].min().date()  # type: ignore[union-attr]
        asked = {
            "rules": [{"name": r.name, "expression": r.expression} for r in RULES],
            "start": day0.isoformat(),
        }
        api = http.post("/v1/rules/backtest", json=asked, headers=analyst)
        assert api.status_code == 200, api.text
        listed = http.get("/v1/rules", headers=analyst).json()

    live: dict[str, Counter[str]] = {r.name: Counter() for r in RULES}
    recorded = served.ledger.decisions_with_labels()
    assert len(recorded) == events.height
    for decision in recorded:
        policy = decision["policy"]
        for match in policy["matched"]:
            live[match["rule"]][decision["event_time"].date().isoformat()] += 1
        # Shadow rules never decide, and never change the model's action on their own.
        assert policy["decided_by"] != "night"
        if policy["decided_by"] == "model":
            assert decision["action"] == policy["model_action"]
    for rule in RULES:
        assert sum(live[rule.name].values()) > 0, f"{rule.name} never fired: a vacuous test"
    assert {r["name"]: r["hits"] for r in listed["rules"]} == {
        n: sum(c.values()) for n, c in live.items()
    }

    # 1. Offline: features recomputed from the events, the model's batch scores, the lists.
    model: FraudModel = load_model(model_dir)
    lists = served.app.state.policy.live.policy.lists
    reports = backtest_events(
        events, RULES, catalogue=model_catalogue(model), now=datetime.now(UTC),
        model=model, lists=lists,
    )  # fmt: skip
    for report in reports:
        offline = {r["day"].isoformat(): r["hits"] for r in report.days.iter_rows(named=True)}
        assert {d: n for d, n in offline.items() if n} == dict(live[report.rule]), report.rule

    # 2. Over the ledger (recorded features), each rule on its own and all together.
    by_rule = {r["name"]: r["hits"] for r in api.json()["rules"]}
    assert by_rule == {n: sum(c.values()) for n, c in live.items()}
    any_hit = Counter[str]()
    for decision in recorded:
        if decision["policy"]["matched"]:
            any_hit[decision["event_time"].date().isoformat()] += 1
    days = {d["day"]: d["hits"] for d in api.json()["days"] if d["hits"]}
    assert days == dict(any_hit)
    assert api.json()["totals"]["transactions"] == events.height


def test_rule_changes_reach_every_later_decision_under_load(
    serve: ServeModel, database_url: str, txn_body: Callable[..., dict[str, Any]]
) -> None:
    served = serve(database_url)
    admin = served.keys["admin"]
    sent: list[tuple[float, float, httpx.Response]] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        with served.client() as http:
            i = 0
            while not stop.is_set():
                i += 1
                body = txn_body(f"load-{worker}-{i}", payer_id=f"p{worker}", amount=50.0)
                began = time.monotonic()
                answer = http.post("/v1/score", json=body, headers=served.keys["scorer"])
                sent.append((began, time.monotonic(), answer))

    threads = [threading.Thread(target=client, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    changes: list[tuple[float, int, str]] = []  # (when it was answered, version, expected)
    with served.client() as http:
        for step in range(3):
            time.sleep(0.3)
            rule = {"expression": "amount > 10", "action": "block", "mode": "active"}
            put = http.put("/v1/rules/flip", json=rule, headers=admin)
            assert put.status_code == 200, put.text
            changes.append((time.monotonic(), put.json()["version"], "block"))
            time.sleep(0.3)
            shadow = {**rule, "mode": "shadow"}
            put = http.put("/v1/rules/flip", json=shadow, headers=admin)
            assert put.status_code == 200, put.text
            changes.append((time.monotonic(), put.json()["version"], "shadow"))
            assert step >= 0
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()

    assert sent, "no load"
    assert [r.status_code for _, _, r in sent if r.status_code != 200] == []
    checked = 0
    for began, _, answer in sent:
        decision = answer.json()
        policy = decision["policy"]
        in_force = [c for c in changes if c[0] < began]  # changes answered before it was sent
        if not in_force:
            continue
        _, version, mode = in_force[-1]
        assert policy["rules_version"] >= version
        if policy["rules_version"] == version:
            checked += 1
            flip = [m for m in policy["matched"] if m["rule"] == "flip"]
            assert flip
            assert flip[0]["values"] == {"amount": 50.0}
            if mode == "block":
                assert (decision["action"], policy["decided_by"]) == ("block", "flip")
                assert decision["reasons"][0]["feature"] == "flip"
            else:  # shadow: recorded, never obeyed
                assert flip[0]["mode"] == "shadow"
                assert decision["action"] == policy["model_action"]
    assert checked > 0


def test_lists_expire_changes_are_audited_and_roles_are_enforced(
    serve: ServeModel, database_url: str, txn_body: Callable[..., dict[str, Any]]
) -> None:
    served = serve(database_url)
    admin, analyst, scorer = (served.keys[r] for r in ("admin", "analyst", "scorer"))
    with served.client() as http:
        hard = {"name": "stolen", "kind": "block", "field": "payer_id", "description": "ATO"}
        assert http.post("/v1/lists", json=hard, headers=analyst).status_code == 403
        assert http.post("/v1/lists", json=hard, headers=admin).status_code == 201
        assert http.post("/v1/lists", json=hard, headers=admin).status_code == 409
        soon = datetime.now(UTC) + timedelta(seconds=2)
        entries = {"entries": [{"value": "thief", "expires_at": soon.isoformat(), "note": "x"}]}
        added = http.post("/v1/lists/stolen/entries", json=entries, headers=admin)
        assert added.status_code == 200, added.text

        blocked = http.post("/v1/score", json=txn_body("l-1", payer_id="thief"), headers=scorer)
        assert blocked.json()["action"] == "block"
        assert blocked.json()["policy"]["decided_by"] == "list:stolen"
        assert "stolen" in blocked.json()["reasons"][0]["sentence"]
        time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
        later = http.post("/v1/score", json=txn_body("l-2", payer_id="thief"), headers=scorer)
        assert later.json()["policy"]["decided_by"] != "list:stolen"  # expired
        shown = http.get("/v1/lists/stolen", headers=analyst).json()
        assert [(e["value"], e["expired"]) for e in shown["entries"]] == [("thief", True)]
        assert http.get("/v1/decisions/l-1", headers=analyst).json()["policy"]["lists"] == [
            "stolen"
        ]

        # A rule reads the list: the list cannot be dropped; a bad rule names its position.
        reads = {"expression": 'payer_id in blocklist("stolen")', "action": "review"}
        assert http.put("/v1/rules/reads", json=reads, headers=analyst).status_code == 403
        assert http.put("/v1/rules/reads", json=reads, headers=admin).status_code == 200
        assert http.delete("/v1/lists/stolen", headers=admin).status_code == 409
        bad = http.post(
            "/v1/rules", json={"name": "bad", "expression": "amount >", "action": "block"},
            headers=admin,
        )  # fmt: skip
        assert bad.status_code == 422
        assert bad.json()["field"] == "expression"
        assert "line 1, column" in bad.json()["reason"]
        assert http.get("/v1/rules/bad", headers=analyst).status_code == 404
        check = http.post(
            "/v1/rules/validate", json={"expression": "amount > 'x'"}, headers=analyst
        )
        assert check.json()["valid"] is False
        assert check.json()["error"]["column"] == 10  # the string
        assert http.get("/v1/rules", headers=scorer).status_code == 403
        assert http.delete("/v1/rules/reads", headers=admin).status_code == 204
        assert http.delete("/v1/lists/stolen/entries/thief", headers=admin).status_code == 204
        assert http.delete("/v1/lists/stolen/entries/thief", headers=admin).status_code == 404
        assert http.delete("/v1/lists/stolen", headers=admin).status_code == 204

        log = http.get("/v1/audit", params={"target": "list:stolen"}, headers=analyst).json()
        assert [e["action"] for e in log["items"]] == [
            "list.drop", "list.remove", "list.add", "list.create",
        ]  # fmt: skip
        assert log["items"][-1]["after"]["field"] == "payer_id"
        rule_log = http.get("/v1/audit", params={"target": "rule:reads"}, headers=analyst).json()
        assert [e["action"] for e in rule_log["items"]] == ["rule.delete", "rule.create"]
        assert rule_log["items"][0]["before"]["expression"] == reads["expression"]
        page = http.get("/v1/audit", params={"limit": 2}, headers=analyst).json()
        older = http.get(
            "/v1/audit", params={"limit": 50, "cursor": page["next_cursor"]}, headers=analyst
        ).json()
        ids = [e["id"] for e in page["items"] + older["items"]]
        assert len(page["items"]) == 2
        assert ids == sorted(ids, reverse=True)
        assert len(set(ids)) == len(ids) == 9  # 3 keys, 4 list and 2 rule changes
        assert older["next_cursor"] is None
        metrics = http.get("/metrics").text
        assert 'frisk_rule_hits_total{rule="reads"}' not in metrics  # never matched
