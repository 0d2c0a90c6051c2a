"""Several processes writing one Redis state: the features are those of one sequential replay,
and an event delivered to two processes is counted once.

Each writer is a real process (``python -c``) with its own connections and its own record cache,
so every record another writer changed is stale in its cache; all share one key prefix, deleted
afterwards.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from frisk.features import MemoryStore, OnlineFeatures, compute_offline, resolve_catalogue
from frisk.features.catalogue import Catalogue
from frisk.features.testing import hot_payee_events, mismatches, random_events, to_frame

pytestmark = [pytest.mark.integration]

REDIS_URL = os.environ.get("FRISK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WRITERS = 3

# One writer: deliveries are (turn or None, event); with turns, it waits for its turn (a counter
# in Redis) before each event and passes the turn on after it.
_WRITER = """
import pickle, sys, time
import redis
from frisk.features import OnlineFeatures
from frisk.features.stores.redis import RedisStore

with open(sys.argv[1], "rb") as handle:
    spec = pickle.load(handle)
store = RedisStore.connect(spec["url"], key_prefix=spec["prefix"], timeout=30.0)
online = OnlineFeatures(spec["catalogue"], store)
turns = redis.Redis.from_url(spec["url"])
for txn, label, at in spec["labels"]:
    online.apply_label(txn, label, at)
out = []
for turn, event in spec["deliveries"]:
    if turn is not None:
        while int(turns.get(spec["turn_key"]) or 0) != turn:
            time.sleep(0.0005)
    out.append((event["transaction_id"], online.update(event)))
    if turn is not None:
        turns.incr(spec["turn_key"])
store.close()
with open(sys.argv[2], "wb") as handle:
    pickle.dump(out, handle)
"""


@pytest.fixture
def prefix(require_service: Callable[[str, str, int], None]) -> Iterator[str]:
    """A fresh key prefix on the test Redis, every key under it deleted afterwards."""
    import redis

    require_service("Redis", "127.0.0.1", 6379)
    name = f"frisk-test-writers-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in list(client.scan_iter(match=f"{name}:*", count=1000)):
        client.unlink(key)
    client.close()


def _run_writers(
    tmp_path: Path,
    prefix: str,
    catalogue: Catalogue,
    deliveries: list[list[tuple[int | None, dict[str, Any]]]],
    labels: list[tuple[str, int, int]],
) -> list[list[tuple[str, list[Any]]]]:
    """Start one process per list of deliveries (the first also queues ``labels``), wait for
    all, and return what each computed, in its order."""
    processes, outputs = [], []
    for w, mine in enumerate(deliveries):
        spec = {
            "url": REDIS_URL,
            "prefix": prefix,
            "catalogue": catalogue,
            "turn_key": f"{prefix}:turn",
            "labels": labels if w == 0 else [],
            "deliveries": mine,
        }
        given, out = tmp_path / f"writer-{w}.in", tmp_path / f"writer-{w}.out"
        given.write_bytes(pickle.dumps(spec))
        outputs.append(out)
        processes.append(subprocess.Popen([sys.executable, "-c", _WRITER, str(given), str(out)]))
    for process in processes:
        assert process.wait(timeout=600) == 0
    return [pickle.loads(out.read_bytes()) for out in outputs]


def test_writers_taking_turns_give_the_features_of_one_replay(tmp_path: Path, prefix: str) -> None:
    """Events dealt in turn to three processes, labels queued by one of them, and every tenth
    event delivered again to the next process: each event's features (first delivery) are the
    offline ones, and no redelivery counts twice."""
    table = random_events(21, 240)
    catalogue = resolve_catalogue("default", table)
    events = list(table.drop("label", "label_timestamp").iter_rows(named=True))
    schedule: list[tuple[int, dict[str, Any]]] = []  # (writer, event)
    for i, event in enumerate(events):
        schedule.append((i % WRITERS, event))
        if i % 10 == 3:
            schedule.append(((i + 1) % WRITERS, event))  # delivered again, to another process
    deliveries: list[list[tuple[int | None, dict[str, Any]]]] = [[] for _ in range(WRITERS)]
    for turn, (writer, event) in enumerate(schedule):
        deliveries[writer].append((turn, event))
    labelled = table.filter(pl.col("label_timestamp").is_not_null())
    labels = [
        (str(txn), int(label), int(at))
        for txn, label, at in labelled.select(
            "transaction_id", "label", pl.col("label_timestamp").to_physical()
        ).iter_rows()
    ]
    computed = _run_writers(tmp_path, prefix, catalogue, deliveries, labels)

    first: dict[str, list[Any]] = {}
    by_turn = sorted(
        (turn, txn, vector)
        for mine, got in zip(deliveries, computed, strict=True)
        for (turn, _), (txn, vector) in zip(mine, got, strict=True)
    )
    for _, txn, vector in by_turn:
        first.setdefault(txn, vector)
    ids = table.get_column("transaction_id")
    online = to_frame(ids, [first[txn] for txn in ids], catalogue)
    assert mismatches(compute_offline(table, catalogue), online, 1e-9) == []


def test_free_running_writers_lose_nothing_and_count_redeliveries_once(
    tmp_path: Path, prefix: str
) -> None:
    """Three processes at once, each with the events of its own payers (their order kept), all
    paying the same three payees, a quarter of the events delivered to a second process too:
    the state they leave holds every event once."""
    from frisk.features.stores.redis import RedisStore

    table, payer = hot_payee_events(23, 360, payers=30)
    catalogue = resolve_catalogue("default", table)
    events = list(table.iter_rows(named=True))
    deliveries: list[list[tuple[int | None, dict[str, Any]]]] = [[] for _ in range(WRITERS)]
    for i, event in enumerate(events):
        deliveries[payer[i] % WRITERS].append((None, event))
        if i % 4 == 0:  # the same event at another process too, at about the same time
            deliveries[(payer[i] + 1) % WRITERS].append((None, event))
    _run_writers(tmp_path, prefix, catalogue, deliveries, [])

    sequential = OnlineFeatures(catalogue, MemoryStore())
    for event in events:
        sequential.update(event)
    shared = OnlineFeatures(catalogue, RedisStore.connect(REDIS_URL, key_prefix=prefix))
    names = [
        "txn_count_by_payee_24h",
        "amount_sum_by_payee_24h",
        "distinct_payer_by_payee_24h",
        "txn_count_by_payer_24h",
        "amount_sum_by_payer_24h",
        "txn_count_by_device_24h",
    ]
    slots = [catalogue.names.index(name) for name in names]
    probe = {**events[-1], "transaction_id": "probe"}
    for payee in ("m0", "m1", "m2"):
        for who in ("p0", "p7", "p29"):
            for device in ("d0", "d4"):
                event = probe | {"payee_id": payee, "payer_id": who, "device_id": device}
                want, got = sequential.peek(event), shared.peek(event)
                assert [got[s] for s in slots] == [want[s] for s in slots], (payee, who, device)
