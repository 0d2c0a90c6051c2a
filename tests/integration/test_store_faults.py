"""The service in front of a PostgreSQL that fails (issue #20, case 4), through a fault proxy.

Each fault has its outcome: refused -> 503 at once; hung -> 503 within the budget
(``store.statement_timeout + 1`` s); slow -> answered or 503 within the budget; cut mid-answer
-> 503; back -> decisions again, without a restart. Throughout, every 200 is in the ledger and
nothing is recorded twice; a 503 names no host or port. The client's own timeout (the budget
plus generous slack for a loaded machine) is the bound: on main a hung database kept a request
for as long as the hang lasted, so these requests timed out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from frisk.config import load_settings
from frisk.errors import RecordRefusedError
from frisk.service.app import create_app
from frisk.store import DecisionRecord, SqlLedger, open_ledger

pytestmark = pytest.mark.integration

STATEMENT = 1.0  # store.statement_timeout in these tests: the budget is 2 s
CLIENT_TIMEOUT = 12.0  # the budget and slack; a request past it fails the test


@dataclass
class Scene:
    url: str
    direct: SqlLedger  # the same schema, not through the proxy
    proxy: Any
    keys: dict[str, dict[str, str]]
    engine: Any
    ok: set[str] = field(default_factory=set)  # ids answered 200
    failed: set[str] = field(default_factory=set)  # ids answered 503
    count: int = 0

    def body(self, txn_id: str) -> dict[str, Any]:
        return {
            "transaction_id": txn_id,
            "timestamp": "2024-03-01T12:00:00+00:00",
            "amount": 120.0,
            "currency": "EUR",
            "payer_id": "payer-1",
            "payee_id": "payee-1",
        }

    def score(self, txn_id: str | None = None) -> httpx.Response:
        if txn_id is None:
            self.count += 1
            txn_id = f"f-{self.count}"
        with httpx.Client(base_url=self.url, timeout=CLIENT_TIMEOUT) as client:
            got = client.post("/v1/score", json=self.body(txn_id), headers=self.keys["scorer"])
        if got.status_code == 200:
            self.ok.add(txn_id)
            self.failed.discard(txn_id)
        else:
            assert got.status_code == 503, got.text
            assert got.headers["Retry-After"].isdigit()
            assert "127.0.0.1" not in got.text
            assert str(self.proxy.upstream[1]) not in got.text
            assert "psycopg" not in got.text.lower()
            self.failed.add(txn_id)
        return got

    def many(self, n: int) -> list[int]:
        with ThreadPoolExecutor(n) as pool:
            ids = []
            for _ in range(n):
                self.count += 1
                ids.append(f"f-{self.count}")
            return [r.status_code for r in pool.map(self.score, ids)]

    def recover(self) -> None:
        deadline = time.monotonic() + 30
        while self.score().status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.2)


@pytest.fixture
def scene(
    postgres_url: str,
    fault_proxy: Callable[[str, int], Any],
    start_server: Callable[[Any], Any],
    role_keys: Callable[[SqlLedger], dict[str, dict[str, str]]],
    amount_engine: Any,
    tmp_path: Any,
) -> Iterator[Scene]:
    direct = open_ledger(postgres_url)
    upstream = sa.make_url(postgres_url)
    proxy = fault_proxy(upstream.host or "127.0.0.1", upstream.port or 5432)
    proxied = upstream.set(host="127.0.0.1", port=proxy.port)
    settings = load_settings(
        home=tmp_path,
        database_url=proxied.render_as_string(hide_password=False),
        security={"rate_limit": {"enabled": False}, "key_cache_seconds": 3600},
        store={
            "statement_timeout": STATEMENT,
            "connect_timeout": 2.0,
            "pool_timeout": 1.0,
            "cool_down": 0.5,
        },
    )
    keys = role_keys(direct)
    server = start_server(create_app(settings, amount_engine))
    scene = Scene(server.url, direct, proxy, keys, amount_engine)
    assert scene.score().status_code == 200  # healthy, and the key is cached from here on
    yield scene
    server.stop()
    direct.close()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _recorded(ledger: SqlLedger) -> list[str]:
    return [record.transaction_id for record in ledger.decisions_since(_EPOCH)]


def _check_ledger(scene: Scene) -> None:
    ids = _recorded(scene.direct)
    assert len(ids) == len(set(ids)), "a decision was recorded twice"
    missing = scene.ok - set(ids)
    assert not missing, f"answered 200 but not recorded: {sorted(missing)[:5]}"


def test_refused_connections_are_a_503_then_recover(scene: Scene) -> None:
    scene.proxy.refuse()
    assert scene.many(4) == [503] * 4
    assert scene.score().status_code == 503
    scene.proxy.heal()
    scene.recover()
    _check_ledger(scene)


def test_a_hung_database_is_a_503_within_the_budget_then_recovers(scene: Scene) -> None:
    scene.proxy.hang()
    codes = scene.many(6)  # each within CLIENT_TIMEOUT, or httpx raises and the test fails
    assert set(codes) == {503}
    assert scene.score().status_code == 503
    scene.proxy.heal()
    scene.recover()
    # Whatever a hung commit held may have landed after its 503: a retry replays it, once.
    for txn_id in sorted(scene.failed):
        assert scene.score(txn_id).status_code == 200
    _check_ledger(scene)
    assert set(_recorded(scene.direct)) == scene.ok


def test_a_slow_database_answers_or_503s_within_the_budget(scene: Scene) -> None:
    scene.proxy.slow(0.05)
    codes = scene.many(4)
    assert set(codes) <= {200, 503}
    scene.proxy.slow(3 * STATEMENT)  # slower than the budget: a 503, not a wait
    assert scene.score().status_code == 503
    scene.proxy.heal()
    scene.recover()
    _check_ledger(scene)


def test_an_answer_cut_half_way_is_a_503_then_recovers(scene: Scene) -> None:
    scene.proxy.cut()
    assert scene.score().status_code in (200, 503)  # the cut may hit a lookup or the commit
    scene.proxy.cut()
    scene.many(3)
    scene.proxy.heal()
    scene.recover()
    for txn_id in sorted(scene.failed):
        assert scene.score(txn_id).status_code == 200
    _check_ledger(scene)


def test_a_nul_record_fails_only_its_own_request_on_postgresql(postgres_url: str) -> None:
    """Case 2: PostgreSQL cannot store NUL; past validation (a bug, a future field), a record
    holding one fails its own request only, and the rest of its group commit is recorded."""
    from frisk.engine.recorder import DecisionRecorder

    ledger = open_ledger(postgres_url)
    try:
        now = _EPOCH.replace(year=2024)

        def record(txn_id: str, note: str = "") -> DecisionRecord:
            return DecisionRecord(
                transaction_id=txn_id,
                body_hash="h",
                event_time=now,
                transaction={"transaction_id": txn_id, "note": note},
                features={"amount": 1.0},
                score=0.1,
                risk_score=4,
                tier="low",
                action="allow",
                reasons=[],
                model_version="v",
                timings={"total": 1.0},
                created_at=now,
            )

        recorder = DecisionRecorder(ledger)
        with ThreadPoolExecutor(8) as pool:
            good = [pool.submit(recorder.record_decision, record(f"ok-{i}")) for i in range(20)]
            bad = pool.submit(recorder.record_decision, record("nul", "a\x00b"))
            more = [pool.submit(recorder.record_decision, record(f"ok-{i}")) for i in range(20, 40)]
            assert [f.result(30).transaction_id for f in good + more] == [
                f"ok-{i}" for i in range(40)
            ]
            with pytest.raises(RecordRefusedError):
                bad.result(30)
        recorder.close()
        assert sorted(_recorded(ledger)) == sorted(f"ok-{i}" for i in range(40))
    finally:
        ledger.close()
