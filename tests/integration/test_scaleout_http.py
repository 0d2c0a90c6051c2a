"""Scale-out over real HTTP: ``frisk serve --workers 2`` and two ``frisk serve`` on different
ports, sharing one PostgreSQL ledger (a fresh schema) and one Redis (a fresh key prefix)."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.scaleout import Cluster, cluster, payment

from frisk.store import open_ledger

__all__ = ["cluster"]

pytestmark = pytest.mark.xdist_group("scaleout")


def _sample_sum(text: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def test_two_workers_answer_clients_and_report_the_groups_totals(cluster: Cluster) -> None:
    node = cluster.start("--workers", "2", "--model", str(cluster.model))
    assert len(node.worker_pids()) == 2
    scorer = cluster.keys["scorer"]

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
        assert all(ledger.has_decision(i) for i in ids)
    finally:
        ledger.close()
    # Any worker's /metrics counts every worker's decisions (multiprocess mode).
    analyst = cluster.keys["analyst"]
    with node.client(headers=analyst) as http:
        for _ in range(4):
            text = http.get("/metrics").text
            assert _sample_sum(text, "frisk_decisions_total") == len(ids)


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
