"""Scale-out over real HTTP: ``frisk serve --workers 2`` and two ``frisk serve`` on different
ports, sharing one PostgreSQL ledger (a fresh schema) and one Redis (a fresh key prefix)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.conftest import FaultProxy
from tests.integration.scaleout import START, Cluster, OwnRedis, cluster, own_redis, payment

from frisk.policy import load_rules
from frisk.store import open_ledger

__all__ = ["cluster", "own_redis"]

pytestmark = pytest.mark.xdist_group("scaleout")


def _samples(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_two_workers_answer_clients_and_report_the_groups_totals(cluster: Cluster) -> None:
    node = cluster.start("--workers", "2", "--model", str(cluster.model))
    assert len(node.worker_pids()) == 2
    scorer = cluster.keys["scorer"]
    with node.client(headers=cluster.keys["admin"]) as http:
        rule = {"name": "big", "expression": "amount > 40", "action": "review", "mode": "shadow"}
        assert http.post("/v1/rules", json=rule).status_code == 201

    def client(c: int) -> list[str]:
        decided = []
        with node.client(headers=scorer) as http:
            for i in range(15):
                r = http.post("/v1/score", json=payment(f"w-{c}-{i}", f"p-{c}", minutes=i))
                assert r.status_code == 200, r.text
                decided.append(r.json()["transaction_id"])
        return decided

    with ThreadPoolExecutor(4) as pool:
        ids = [i for got in pool.map(client, range(4)) for i in got]
    ledger = open_ledger(cluster.database_url)
    try:
        records = [ledger.get_decision(i) for i in ids]
    finally:
        ledger.close()
    assert all(r is not None for r in records)
    # The rule's hits, as the ledger recorded them (a worker may have decided before it polled
    # the new rule in): any worker's /v1/rules sums every worker's.
    matched = sum(
        any(m["rule"] == "big" for m in (r.policy or {}).get("matched", ()))
        for r in records
        if r is not None
    )
    assert matched > 0
    # Any worker's /metrics counts every worker's decisions (multiprocess mode).
    analyst = cluster.keys["analyst"]
    with node.client(headers=analyst) as http:
        for _ in range(4):
            text = http.get("/metrics").text
            assert _samples(text, "frisk_decisions_total") == len(ids)
        # /v1/stats names both workers and sums them (each writes its figures once a second).
        deadline = time.monotonic() + 30
        while True:
            stats = http.get("/v1/stats").json()
            if sum(stats["decisions_since_start"].values()) == len(ids) or (
                time.monotonic() > deadline
            ):
                break
            time.sleep(0.5)
    assert sum(stats["decisions_since_start"].values()) == len(ids)
    assert sorted(w["pid"] for w in stats["workers"]) == sorted(node.worker_pids())
    assert sum(sum(w["decisions_since_start"].values()) for w in stats["workers"]) == len(ids)
    with node.client(headers=analyst) as http:
        for _ in range(4):
            assert http.get("/v1/rules/big").json()["hits"] == matched


def test_metrics_of_any_worker_count_every_workers_decisions_and_rule_hits(
    cluster: Cluster,
) -> None:
    # The rule is in the ledger before the workers start, so each decides with it from the first
    # payment: the hits are known from the amounts sent.
    ledger = open_ledger(cluster.database_url)
    try:
        ledger.rules.replace_all(
            load_rules("- {name: big, expression: 'amount > 40', action: review, mode: shadow}"),
            actor="test",
            at=START,
        )
    finally:
        ledger.close()
    node = cluster.start("--workers", "2", "--model", str(cluster.model))
    scorer = cluster.keys["scorer"]

    def client(c: int) -> int:
        hits = 0
        for i in range(16):
            big = i % 3 != 0
            hits += big
            body = payment(f"m-{c}-{i}", f"mp-{c}", minutes=i, amount=42.5 if big else 10.0)
            # A connection of its own per payment, so that both workers take a share.
            with node.client(headers=scorer) as http:
                r = http.post("/v1/score", json=body)
            assert r.status_code == 200, r.text
        return hits

    with ThreadPoolExecutor(4) as pool:
        hits = sum(pool.map(client, range(4)))
    sent = 4 * 16
    analyst = cluster.keys["analyst"]
    # Both workers decided a share (else one worker's count would be the group's anyway).
    deadline = time.monotonic() + 30
    while True:
        with node.client(headers=analyst) as http:
            workers = http.get("/v1/stats").json()["workers"]
        shares = [sum(w["decisions_since_start"].values()) for w in workers]
        if sum(shares) == sent or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(shares) == 2, shares
    assert min(shares) > 0, shares
    assert sum(shares) == sent, shares
    for _ in range(6):
        with node.client(headers=analyst) as http:  # a new connection: either worker answers
            text = http.get("/metrics").text
        assert _samples(text, "frisk_decisions_total") == sent
        assert _samples(text, "frisk_rule_hits_total", rule="big") == hits
        # Both workers wrote the shared payee: each applied the other's changes
        assert _samples(text, "frisk_feature_changes_applied") > 0
        assert _samples(text, "frisk_decision_score_count") == sent
        assert _samples(text, "frisk_ledger_commit_decisions_sum") == sent
        assert (
            _samples(
                text,
                "frisk_http_requests_total",
                route="/v1/score",
                method="POST",
                status="200",
            )
            == sent
        )
        assert _samples(text, "frisk_http_request_duration_seconds_count", route="/v1/score") == (
            sent
        )
        # Every family once: no worker's own series next to the group's.
        names = [f.name for f in text_string_to_metric_families(text)]
        assert len(names) == len(set(names)), sorted(names)
        assert "frisk_gc_pause_seconds" in names


def test_a_worker_killed_under_load_loses_nothing_and_is_replaced(cluster: Cluster) -> None:
    node = cluster.start("--workers", "2", "--model", str(cluster.model))
    victim = node.worker_pids()[0]
    scorer = cluster.keys["scorer"]
    ok: list[str] = []
    failed: list[str] = []
    lock = threading.Lock()
    started = threading.Event()

    def client(c: int) -> None:
        with node.client(headers=scorer) as http:
            for i in range(40):
                if i == 5:
                    started.set()
                body = payment(f"k-{c}-{i}", f"kp-{c}", minutes=i)
                try:
                    r = http.post("/v1/score", json=body)
                except Exception:  # the connection to the killed worker was cut
                    with lock:
                        failed.append(body["transaction_id"])
                    continue
                with lock:
                    (ok if r.status_code == 200 else failed).append(body["transaction_id"])

    threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    started.wait(60)

    os.kill(victim, signal.SIGKILL)
    for t in threads:
        t.join()
    assert len(ok) > 80  # the other worker kept answering
    ledger = open_ledger(cluster.database_url)
    try:
        assert [i for i in ok if not ledger.has_decision(i)] == []  # every 200 is recorded
    finally:
        ledger.close()
    # The supervisor replaces the killed worker.

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = node.worker_pids()
        if len(pids) == 2 and victim not in pids:
            break
        time.sleep(0.5)
    pids = node.worker_pids()
    assert victim not in pids
    assert len(pids) == 2
    node.wait_ready()
    with node.client(headers=scorer) as http:
        assert http.post("/v1/score", json=payment("k-after", "kp-after")).status_code == 200


def _payer_count(features: dict[str, float]) -> tuple[str, float]:
    """A count of the payer's payments over a day or more, from a decision's features."""
    names = sorted(
        n for n in features if n.startswith("txn_count_by_payer_") and n.endswith(("24h", "7d"))
    )
    assert names, sorted(features)
    return names[0], features[names[0]]


def test_duplicate_ids_sent_concurrently_to_two_nodes_are_decided_once(cluster: Cluster) -> None:
    a = cluster.start("--workers", "2", "--model", str(cluster.model))
    b = cluster.start("--model", str(cluster.model))
    scorer = cluster.keys["scorer"]
    payer = "dup-payer"
    ids = [f"dup-{i}" for i in range(12)]
    bodies = {i: payment(i, payer, minutes=n + 1) for n, i in enumerate(ids)}
    first = payment("dup-first", payer, minutes=0)
    with a.client(headers=scorer) as http:
        baseline = http.post("/v1/score", json=first)
        assert baseline.status_code == 200

    # Each id three times at once: twice to the node with two workers, once to the other.
    def send(job: tuple[str, str]) -> tuple[str, int, dict[str, object], bool]:
        node, tid = job
        with (a if node == "a" else b).client(headers=scorer) as http:
            r = http.post("/v1/score", json=bodies[tid])
            return tid, r.status_code, r.json(), r.headers.get("idempotent-replayed") == "true"

    jobs = [(node, tid) for tid in ids for node in ("a", "b", "a")]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(send, jobs))
    assert [status for _, status, _, _ in answers] == [200] * len(jobs)
    for tid in ids:
        mine = [(body, replayed) for t, _, body, replayed in answers if t == tid]
        assert all(body == mine[0][0] for body, _ in mine)  # every caller got the one decision
        assert sorted(replayed for _, replayed in mine) == [False, True, True]

    # The same id with another body is a 409 on every node (and every worker).
    other = {**bodies[ids[0]], "amount": 9999.0}
    for node in (a, b, a, a):
        with node.client(headers=scorer) as http:
            assert http.post("/v1/score", json=other).status_code == 409

    # Feature state counted each payment once: the next one sees 1 + 12 before it, not 1 + 36.
    with b.client(headers=scorer) as http:
        last = http.post("/v1/score", json=payment("dup-last", payer, minutes=30))
        assert last.status_code == 200
    ledger = open_ledger(cluster.database_url)
    try:
        name, before = _payer_count(ledger.get_decision("dup-first").features)
        _, after = _payer_count(ledger.get_decision("dup-last").features)
        recorded = [ledger.get_decision(t) for t in ids]
    finally:
        ledger.close()
    assert after - before == len(ids) + 1, name
    assert all(r is not None for r in recorded)


def test_a_keys_rate_limit_is_shared_by_the_nodes(cluster: Cluster) -> None:
    # 0.5/s with a bucket of 10: each node alone would let 10 through at once, together 20.
    env = {"FRISK_SECURITY__RATE_LIMIT__BURST_SECONDS": "20"}
    a = cluster.start("--workers", "2", "--model", str(cluster.model), **env)
    b = cluster.start("--model", str(cluster.model), **env)
    with a.client(headers=cluster.keys["admin"]) as http:
        made = http.post("/v1/keys", json={"role": "scorer", "name": "slow", "rate_limit": 0.5})
        assert made.status_code == 201
    slow = {"X-API-Key": made.json()["key"]}
    began = time.monotonic()
    answers: list[tuple[str, int, str | None]] = []
    for i in range(30):
        node = (a, b)[i % 2]
        with node.client(headers=slow) as http:
            r = http.post("/v1/score", json=payment(f"rl-{i}", "rl-payer", minutes=i))
            answers.append((node.url, r.status_code, r.headers.get("retry-after")))
    elapsed = time.monotonic() - began
    accepted = sum(status == 200 for _, status, _ in answers)
    # The one bucket's 10, plus what it refilled meanwhile (0.5/s); never each node's own 10.
    assert 10 <= accepted <= 10 + 0.5 * elapsed + 1
    refused = [(url, after) for url, status, after in answers if status == 429]
    assert {url for url, _ in refused} == {a.url, b.url}
    assert all(after is not None and int(after) >= 1 for _, after in refused)


@pytest.mark.parametrize("mode", ["score", "review", "refuse"])
def test_redis_stopped_and_restarted(cluster: Cluster, own_redis: OwnRedis, mode: str) -> None:
    env = {
        "FRISK_STATE__URL": own_redis.url,
        "FRISK_STATE__ON_UNAVAILABLE": mode,
        "FRISK_STATE__TIMEOUT": "0.3",
        "FRISK_STATE__CONNECT_TIMEOUT": "0.3",
    }
    node = cluster.start("--workers", "2", "--model", str(cluster.model), **env)
    scorer = cluster.keys["scorer"]
    with node.client(headers=scorer) as http:
        whole = http.post("/v1/score", json=payment("rd-1", "rd-payer"))
        assert whole.status_code == 200
        assert whole.json()["degraded"] is False
        own_redis.stop()
        down = [
            http.post("/v1/score", json=payment(f"rd-d{i}", "rd-payer", i + 1)) for i in range(4)
        ]
        if mode == "refuse":
            assert [r.status_code for r in down] == [503] * 4
            assert all(int(r.headers["Retry-After"]) >= 1 for r in down)
        else:
            assert [r.status_code for r in down] == [200] * 4
            bodies = [r.json() for r in down]
            assert all(b["degraded"] for b in bodies)
            assert all(b["reasons"][0]["feature"] == "feature_state" for b in bodies)
            if mode == "review":
                assert all(b["action"] in ("review", "block") for b in bodies)
        own_redis.start()  # recovery without a restart of the service
        deadline = time.monotonic() + 30
        back = None
        tries = 0
        while time.monotonic() < deadline:
            tries += 1
            back = http.post("/v1/score", json=payment(f"rd-b{tries}", "rd-p2", 10 + tries))
            if back.status_code == 200 and not back.json()["degraded"]:
                break
            time.sleep(0.5)
        assert back is not None
        assert back.status_code == 200
        assert back.json()["degraded"] is False
    ledger = open_ledger(cluster.database_url)
    try:
        recorded = [ledger.get_decision(f"rd-d{i}") for i in range(4)]
    finally:
        ledger.close()
    if mode == "refuse":
        assert recorded == [None] * 4  # nothing answered, nothing recorded
    else:
        assert all(r is not None and r.degraded for r in recorded)


def test_a_promotion_on_one_node_is_served_by_the_other(cluster: Cluster) -> None:
    from frisk.models.registry import Registry

    # A registry on storage both nodes see (here: one directory), two versions of the model.
    registry = Registry(cluster.home / "registry")
    model = registry_model(cluster.model)
    first = registry.register(model, now=START - timedelta(days=2))
    second = registry.register(model, now=START - timedelta(days=1))
    registry.promote(first)
    a = cluster.start("--workers", "2", "--registry", str(registry.root))
    b = cluster.start("--registry", str(registry.root))
    admin = cluster.keys["admin"]
    with a.client(headers=admin) as http:
        assert http.get("/v1/models").json()["serving"]["version"] == first
        promoted = http.post("/v1/models/promote", json={"version": second})
        assert promoted.status_code == 200, promoted.text
    # Every node (and every worker: ask several times) serves it within the poll interval.
    for node in (a, b):
        with node.client(headers=admin) as http:
            deadline = time.monotonic() + 30
            seen: list[str] = []
            while time.monotonic() < deadline:
                seen = [http.get("/v1/models").json()["serving"]["version"] for _ in range(6)]
                if set(seen) == {second}:
                    break
                time.sleep(0.5)
            assert set(seen) == {second}
    with b.client(headers=cluster.keys["scorer"]) as http:
        r = http.post("/v1/score", json=payment("promoted-1", "pr-payer"))
        assert r.json()["model_version"] == second


def registry_model(directory: Path) -> Any:
    from frisk.models import load_model

    return load_model(directory)


def test_interleaved_traffic_over_two_nodes_learns_what_one_process_would(
    cluster: Cluster,
) -> None:
    from frisk.engine import load_engine
    from frisk.schema import Transaction

    a = cluster.start("--workers", "2", "--model", str(cluster.model))
    b = cluster.start("--model", str(cluster.model))
    # A stream in time order over a few payers, payees and devices, sent alternately to the
    # nodes (and so to three processes): every entity's events in order, its history split.
    stream = [
        payment(
            f"il-{i}",
            f"il-payer-{i % 5}",
            minutes=2 * i,
            payee_id=f"il-shop-{i % 3}",
            device_id=f"il-dev-{i % 4}",
            amount=float(10 + (i * 37) % 400),
        )
        for i in range(45)
    ]
    scorer = cluster.keys["scorer"]
    with a.client(headers=scorer) as on_a, b.client(headers=scorer) as on_b:
        for i, body in enumerate(stream):
            r = (on_a, on_b)[i % 2].post("/v1/score", json=body)
            assert r.status_code == 200, r.text
    ledger = open_ledger(cluster.database_url)
    try:
        served = [ledger.get_decision(body["transaction_id"]) for body in stream]
    finally:
        ledger.close()
    # The same stream replayed by one process with its own in-process state.
    alone = load_engine(cluster.model, None)
    try:
        replayed = [alone.decide(Transaction.model_validate(body)) for body in stream]
    finally:
        alone.close()
    for body, record, verdict in zip(stream, served, replayed, strict=True):
        assert record is not None
        assert set(record.features) == set(verdict.features)
        differ = {
            name: (record.features[name], verdict.features[name])
            for name in verdict.features
            if not _same_value(record.features[name], verdict.features[name])
        }
        assert differ == {}, body["transaction_id"]


def _same_value(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is right
    if isinstance(left, float | int) and isinstance(right, float | int):
        return abs(left - right) <= 1e-6 * max(1.0, abs(left), abs(right))
    return bool(left == right)


def test_postgresql_unreachable_is_503_then_recovers(
    cluster: Cluster, fault_proxy: Callable[[str, int], FaultProxy]
) -> None:
    import sqlalchemy as sa

    url = sa.make_url(cluster.database_url)
    proxy = fault_proxy(url.host or "127.0.0.1", url.port or 5432)
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = {"FRISK_DATABASE_URL": through, "FRISK_STORE__STATEMENT_TIMEOUT": "2"}
    node = cluster.start("--workers", "2", "--model", str(cluster.model), **env)
    scorer = cluster.keys["scorer"]
    with node.client(headers=scorer) as http:
        assert http.post("/v1/score", json=payment("pg-1", "pg-payer")).status_code == 200
        proxy.refuse()
        down = [
            http.post("/v1/score", json=payment(f"pg-d{i}", "pg-payer", i + 1)) for i in range(4)
        ]
        assert [r.status_code for r in down] == [503] * 4
        assert all(int(r.headers["Retry-After"]) >= 1 for r in down)
        proxy.heal()
        deadline = time.monotonic() + 60
        status = 0
        tries = 0
        while time.monotonic() < deadline:
            tries += 1
            status = http.post(
                "/v1/score", json=payment(f"pg-b{tries}", "pg-p2", 10 + tries)
            ).status_code
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200  # recovered by itself, no restart
        # A payment refused while the ledger was away, sent again, is decided and recorded.
        again = http.post("/v1/score", json=payment("pg-d0", "pg-payer", 1))
        assert again.status_code == 200
    ledger = open_ledger(cluster.database_url)
    try:
        assert ledger.get_decision("pg-d0") is not None
    finally:
        ledger.close()
