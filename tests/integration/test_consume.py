"""``frisk consume`` with a real model, on both brokers: killed mid-batch, a group, promotions.

Each test has its own streams, ledger and (for shared state) Redis key prefix. Payments are
dated in the last hours, inside the live window the API applies to them too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.streams_kit import REDIS_URL, Kit, kit_fixture

from frisk.config import Settings, load_settings
from frisk.models import load_model
from frisk.models.registry import Registry
from frisk.store import SqlLedger, default_url, open_ledger
from frisk.streams import consume

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("brokers")]

FRISK = Path(sys.executable).parent / "frisk"


@pytest.fixture(params=["redis", "nats"])
def kit(
    request: pytest.FixtureRequest, require_service: Callable[[str, str, int], None]
) -> Iterator[Kit]:
    yield from kit_fixture(request, require_service)


def payments(count: int, *, payers: int, start: datetime, tag: str = "p") -> list[dict[str, Any]]:
    """Payments in waves: within a wave every payer, payee and device appears once, all at one
    time, so any split of a wave between consumers sees the same history as one consumer."""
    out = []
    for i in range(count):
        wave, who = divmod(i, payers)
        at = start + timedelta(minutes=15 * wave)
        out.append(
            {
                "transaction_id": f"{tag}-{i}",
                "timestamp": at.isoformat(),
                "amount": float(20 + (i * 37) % 900),
                "currency": "EUR",
                "payer_id": f"payer-{who}",
                "payee_id": f"payee-{who}",
                "device_id": f"device-{who}",
                "channel": "card",
            }
        )
    return out


def wait_for(condition: Callable[[], bool], what: str, limit: float = 120.0) -> None:
    """Poll ``condition``; a hang fails the test (never a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def recorded(ledger: SqlLedger, ids: list[str]) -> int:
    return sum(ledger.has_decision(i) for i in ids)


def environment(kit: Kit, home: Path, database_url: str, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRISK_")}
    env.update(
        FRISK_HOME=str(home),
        FRISK_DATABASE_URL=database_url,
        FRISK_CONSUMER__BROKER=kit.url,
        FRISK_CONSUMER__INPUT=kit.name("payments"),
        FRISK_CONSUMER__OUTPUT=kit.name("decisions"),
        FRISK_CONSUMER__GROUP="g",
        FRISK_CONSUMER__NAME=name,
        FRISK_CONSUMER__REDELIVER_SECONDS="1",
        FRISK_CONSUMER__WAIT_SECONDS="0.2",
    )
    return env


def test_a_consumer_sigkilled_mid_batch_loses_nothing_and_counts_nothing_twice(
    kit: Kit, tmp_path: Path, policy_model_dir: Path, serve_model: Any
) -> None:
    database_url = default_url(tmp_path / "ledger")
    sent = payments(300, payers=30, start=datetime.now(UTC) - timedelta(hours=4))
    ids = [p["transaction_id"] for p in sent]
    kit.publish(kit.name("payments"), sent)
    ledger = open_ledger(database_url)
    try:
        command = [str(FRISK), "consume", "--model", str(policy_model_dir), "--batch", "10"]
        first = subprocess.Popen(
            command,
            env=environment(kit, tmp_path / "home-1", database_url, "c1"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: ledger.has_decision(ids[0]), "the first decisions")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        at_kill = recorded(ledger, ids)
        # Delivered to the dead member and not acknowledged: its batch in hand.
        assert kit.unacked(kit.name("payments"), "g") > 0
        assert at_kill < len(sent)
        second = subprocess.Popen(
            command,
            env=environment(kit, tmp_path / "home-2", database_url, "c2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(lambda: recorded(ledger, ids) == len(sent), "every payment recorded")
            wait_for(lambda: kit.unacked(kit.name("payments"), "g") == 0, "every ack")
        finally:
            second.send_signal(signal.SIGTERM)  # drains: finishes its batch, then exits
            _, err = second.communicate(timeout=60)
        assert second.returncode == 0, err.decode()[-2000:]
        assert len(ledger.recent_decisions(limit=10_000)) == len(sent)  # each recorded once
    finally:
        ledger.close()
    published = [orjson.loads(m) for m in kit.read(kit.name("decisions"), "decision")]
    assert sorted(p["transaction_id"] for p in published) == sorted(ids)  # each published once
    # What the stream carries is what the API answers for the same transaction.
    served = serve_model(database_url)
    with served.client() as client:
        for message in published[::7]:
            got = client.get(
                f"/v1/decisions/{message['transaction_id']}", headers=served.keys["analyst"]
            )
            assert got.status_code == 200
            assert got.json() == message


def settings_for(
    kit: Kit, home: Path, database_url: str, *, name: str, group: str, output: str, prefix: str
) -> Settings:
    return load_settings(
        home=home,
        database_url=database_url,
        state={"url": REDIS_URL, "key_prefix": prefix},
        consumer={
            "broker": kit.url,
            "input": kit.name("payments"),
            "output": kit.name(output),
            "group": group,
            "name": name,
            "batch": 4,
            "wait_seconds": 0.2,
        },
        monitoring={"registry_poll_seconds": 0.1},
    )


class Running:
    """``frisk.streams.consume`` in a thread, stopped (drained) by ``stop``."""

    def __init__(self, settings: Settings, model: Path | None, registry: Path | None) -> None:
        import asyncio

        self.stop_event = asyncio.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(settings, model, registry))
        self.thread.start()

    def _run(self, settings: Settings, model: Path | None, registry: Path | None) -> None:
        try:
            consume(settings, model, registry, self.stop_event)
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self.stop_event.set()  # read by the loop between batches
        self.thread.join(timeout=60)
        assert self.error is None, self.error


def test_two_consumers_in_a_group_decide_as_one_consumer_does(
    kit: Kit, tmp_path: Path, policy_model_dir: Path
) -> None:
    pair_url = default_url(tmp_path / "pair")
    one_url = default_url(tmp_path / "one")
    prefix = f"frisk-test-{uuid.uuid4().hex[:8]}"
    pair, one = open_ledger(pair_url), open_ledger(one_url)  # migrated before the consumers
    members = []
    for name, url, group, state in (
        ("a", pair_url, "pair", "pair"),
        ("b", pair_url, "pair", "pair"),
        ("solo", one_url, "solo", "solo"),
    ):
        env = environment(kit, tmp_path / name, url, name)
        env.update(
            FRISK_CONSUMER__GROUP=group,
            FRISK_CONSUMER__OUTPUT=kit.name(f"{group}-out"),
            FRISK_CONSUMER__BATCH="4",
            FRISK_STATE__URL=REDIS_URL,  # the pair shares one feature state; solo has its own
            FRISK_STATE__KEY_PREFIX=f"{prefix}-{state}",
        )
        members.append(
            subprocess.Popen(
                [str(FRISK), "consume", "--model", str(policy_model_dir)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
    payers = 12
    # One time per wave: see "Several consumers in one group" in docs/STREAMS.md.
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    sent = payments(5 * payers, payers=payers, start=start)
    try:
        for start in range(0, len(sent), payers):  # a wave at a time (see payments)
            wave = sent[start : start + payers]
            kit.publish(kit.name("payments"), wave)
            ids = [p["transaction_id"] for p in wave]
            wait_for(lambda ids=ids: recorded(pair, ids) == len(ids), "the pair's wave", 240)
            wait_for(lambda ids=ids: recorded(one, ids) == len(ids), "the single's wave", 240)
        by_pair = {p["transaction_id"]: pair.get_decision(p["transaction_id"]) for p in sent}
        by_one = {p["transaction_id"]: one.get_decision(p["transaction_id"]) for p in sent}
    finally:
        for member in members:
            member.send_signal(signal.SIGTERM)
        errors = [member.communicate(timeout=60)[1] for member in members]
        pair.close()
        one.close()
    assert [m.returncode for m in members] == [0, 0, 0], [e.decode()[-1000:] for e in errors]
    for txn_id, a in by_pair.items():
        b = by_one[txn_id]
        assert a is not None
        assert b is not None
        assert dict(a.features) == dict(b.features), txn_id
        assert (a.score, a.risk_score, a.action, a.reasons) == (
            b.score,
            b.risk_score,
            b.action,
            b.reasons,
        ), txn_id
    # Later waves read what earlier ones left in the shared state, whoever decided them.
    last = by_pair[sent[-1]["transaction_id"]]
    assert last is not None
    assert last.features["txn_count_by_payer_24h"] == 4  # the four waves before
    published = [orjson.loads(m) for m in kit.read(kit.name("pair-out"), "decision")]
    assert sorted(p["transaction_id"] for p in published) == sorted(by_pair)
    if kit.kind == "redis":  # NATS does not name the clients of a pull consumer
        assert kit.members(kit.name("payments"), "pair") == {"a", "b"}


def test_a_promotion_is_followed_while_consuming(
    kit: Kit, tmp_path: Path, policy_model_dir: Path
) -> None:
    registry = Registry(tmp_path / "registry")
    model = load_model(policy_model_dir)
    now = datetime.now(UTC)
    first = registry.register(model, now=now - timedelta(minutes=2))
    second = registry.register(model, now=now - timedelta(minutes=1))
    registry.promote(first)
    database_url = default_url(tmp_path / "ledger")
    settings = settings_for(
        kit,
        tmp_path / "home",
        database_url,
        name="c",
        group="g",
        output="decisions",
        prefix=f"frisk-test-{uuid.uuid4().hex[:8]}",
    )
    ledger = open_ledger(database_url)  # migrated first: Alembic is not for two threads at once
    running = Running(settings, None, registry.root)
    sent = payments(20, payers=10, start=now - timedelta(hours=2))
    try:
        kit.publish(kit.name("payments"), sent[:10])
        wait_for(lambda: recorded(ledger, [p["transaction_id"] for p in sent[:10]]) == 10, "1st")
        registry.promote(second)

        def follows() -> bool:
            # A probe payment per look: decided with whichever model serves by then.
            probe = payments(1, payers=1, start=now, tag=f"probe-{uuid.uuid4().hex[:6]}")[0]
            kit.publish(kit.name("payments"), [probe])
            wait_for(lambda: ledger.has_decision(probe["transaction_id"]), "the probe")
            got = ledger.get_decision(probe["transaction_id"])
            return got is not None and got.model_version == second

        wait_for(follows, "the promoted model")
        kit.publish(kit.name("payments"), sent[10:])
        wait_for(lambda: recorded(ledger, [p["transaction_id"] for p in sent]) == 20, "2nd")
        versions = [ledger.get_decision(p["transaction_id"]) for p in sent]
    finally:
        running.stop()
        ledger.close()
    assert {v.model_version for v in versions[:10] if v is not None} == {first}
    assert {v.model_version for v in versions[10:] if v is not None} == {second}
