"""One suite, every state store: online == offline at every event, on the store under test.

Stores: ``memory`` (the in-process default, which hands out its own record objects);
``copying``, a fake of a remote store: every ``load`` hands out copies made through pickle, so an
executor that changed a record in place and did not hand it back would lose the change; and
``redis``, the Redis store on 127.0.0.1:6379 (a fresh key prefix per store, deleted after the
test; skipped when Redis does not answer, a failure under CI=true). A store that drops writes
(``DroppingStore``) must fail the suite, and a test below proves that it does.
"""

from __future__ import annotations

import os
import pickle
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frisk.data.table import conform
from frisk.errors import FeatureError, InvalidEventError, LateEventError, StateUnavailable
from frisk.features import MemoryStore, OnlineFeatures, compute_offline, resolve_catalogue
from frisk.features.local_cluster import local_cluster
from frisk.features.spec import DAY, HOUR, MINUTE
from frisk.features.state import NEVER, StateStore
from frisk.features.testing import (
    hot_payee_events,
    mismatches,
    online_features,
    random_events,
    to_frame,
)

REL = 1e-9
REDIS_URL = os.environ.get("FRISK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_START = 1_700_000_000_000_000

StoreFactory = Callable[[], StateStore]


class CopyingStore(MemoryStore):
    """A memory store that hands out copies, as a store across a wire must."""

    def open(self, layout: Any) -> None:
        super().open(layout)
        begin = self.begin

        def copying(
            transaction_id: str, t_event: int, keys: Sequence[str | None], event: Any
        ) -> tuple[int, Sequence[Any]]:
            t, records = begin(transaction_id, t_event, keys, event)
            return t, pickle.loads(pickle.dumps(records))

        self.begin = copying


class DroppingStore(CopyingStore):
    """A broken store: it loses every third write of a record that already exists."""

    def open(self, layout: Any) -> None:
        super().open(layout)
        commit, read = self.commit, self.read
        writes = [0]

        def dropping(
            transaction_id: str, t: int, keys: Sequence[str | None], records: Sequence[Any]
        ) -> None:
            existing = pickle.loads(pickle.dumps(read(keys)))
            kept = list(records)
            for i, old in enumerate(existing):
                if old is not None:
                    writes[0] += 1
                    if writes[0] % 3 == 0:
                        kept[i] = old
            commit(transaction_id, t, keys, kept)

        self.commit = dropping


STORES: dict[str, StoreFactory] = {"memory": MemoryStore, "copying": CopyingStore}


@pytest.fixture
def redis_stores(require_service: Callable[[str, str, int], None]) -> Iterator[StoreFactory]:
    """Fresh Redis stores, each under its own key prefix; every key deleted afterwards."""
    from frisk.features.stores.redis import RedisStore

    require_service("Redis", "127.0.0.1", 6379)
    run = uuid.uuid4().hex[:10]
    made: list[RedisStore] = []

    def make() -> StateStore:
        # Generous timeouts: the test machine's cores are shared and often saturated.
        store = RedisStore.connect(
            REDIS_URL, key_prefix=f"frisk-test-{run}-{len(made)}", timeout=10.0
        )
        made.append(store)
        return store

    yield make
    for store in made:
        store.clear()
        store.close()


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what}; CI=true, so a missing service is a failure")
    pytest.skip(what)


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A 3-primary Redis Cluster on free 127.0.0.1 ports, started and stopped here; its URL."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        _missing("redis-server and redis-cli are needed to start a Redis Cluster")
    assert server is not None
    assert cli is not None
    root: Path = tmp_path_factory.mktemp("redis-cluster")
    with local_cluster(server, cli, root) as ports:
        yield f"redis://127.0.0.1:{ports[0]}"


@pytest.fixture
def cluster_stores(redis_cluster: str) -> Iterator[StoreFactory]:
    """Fresh stores on the test's Redis Cluster, each under its own key prefix."""
    from frisk.features.stores.redis import RedisStore

    run = uuid.uuid4().hex[:10]
    made: list[RedisStore] = []

    def make() -> StateStore:
        store = RedisStore.connect(
            redis_cluster, cluster=True, key_prefix=f"frisk-test-{run}-{len(made)}", timeout=10.0
        )
        made.append(store)
        return store

    yield make
    for store in made:
        store.clear()
        store.close()


@pytest.fixture(params=[*sorted(STORES), "redis", "redis-cluster"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    if request.param == "redis":
        factory: StoreFactory = request.getfixturevalue("redis_stores")
        return factory
    if request.param == "redis-cluster":
        factory = request.getfixturevalue("cluster_stores")
        return factory
    return STORES[request.param]


def parity_problems(make: StoreFactory, table: pl.DataFrame) -> list[str]:
    """Where the online features on a fresh store differ from the offline executor's."""
    catalogue = resolve_catalogue("default", table)
    return mismatches(
        compute_offline(table, catalogue), online_features(table, catalogue, make()), REL
    )


@pytest.mark.parametrize("seed", range(4))
def test_online_equals_offline_on_generated_streams(make_store: StoreFactory, seed: int) -> None:
    assert parity_problems(make_store, random_events(seed, 300)) == []


_STEPS = st.sampled_from(
    [
        0,
        0,
        1,
        MINUTE,
        10 * MINUTE,
        10 * MINUTE + 1,
        HOUR - 1,
        HOUR,
        HOUR + 1,
        DAY,
        30 * DAY,
        31 * DAY,
    ]
)
_EVENT = st.tuples(
    _STEPS,
    st.integers(0, 3),  # payer
    st.integers(0, 2),  # payee
    st.one_of(st.none(), st.integers(0, 2)),  # device
    st.sampled_from([0.01, 1.0, 10.0, 250.5, 3e7]),
    st.sampled_from([None, None, 0, 1, HOUR, DAY, 200 * DAY, -1]),  # label delay
    st.booleans(),
)


def _stream(events: list[tuple[Any, ...]]) -> pl.DataFrame:
    t = _START
    rows = []
    for i, (step, payer, payee, device, amount, delay, fraud) in enumerate(events):
        t += step
        rows.append(
            {
                "transaction_id": f"t{i}",
                "timestamp": t,
                "amount": amount,
                "currency": "EUR",
                "payer_id": f"p{payer}",
                "payee_id": f"m{payee}",
                "device_id": None if device is None else f"d{device}",
                "label": None if delay is None else int(fraud),
                "label_timestamp": None if delay is None else t + delay,
            }
        )
    frame = pl.DataFrame(rows, schema_overrides={"label_timestamp": pl.Int64}).with_columns(
        pl.col("timestamp", "label_timestamp").cast(pl.Datetime("us", "UTC"))
    )
    return conform(frame)


# ``make_store`` is a factory: every example builds its own fresh store.
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(events=st.lists(_EVENT, min_size=1, max_size=40))
def test_online_equals_offline_on_hypothesis_streams(
    make_store: StoreFactory, events: list[tuple[Any, ...]]
) -> None:
    assert parity_problems(make_store, _stream(events)) == []


def test_online_equals_offline_on_a_long_dense_stream(make_store: StoreFactory) -> None:
    """Long enough for records to compact their dead prefixes, and for expiry to drop some."""
    rng = np.random.default_rng(5)
    n = 2500
    steps = rng.choice(np.array([0, 1, MINUTE, 20 * MINUTE, HOUR, 3 * HOUR, 31 * DAY]), size=n)
    ts = _START + np.cumsum(steps * (rng.random(n) < 0.999))
    labelled = rng.random(n) < 0.3
    frame = pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "timestamp": pl.Series(ts).cast(pl.Datetime("us", "UTC")),
            "amount": np.round(rng.lognormal(3.0, 1.0, size=n), 2) + 0.01,
            "currency": "EUR",
            "payer_id": [f"p{v}" for v in rng.integers(0, 3, size=n)],
            "payee_id": [f"m{v}" for v in rng.integers(0, 150, size=n)],
            "device_id": [f"d{v}" for v in rng.integers(0, 100, size=n)],
            "label": pl.Series(np.where(labelled, rng.random(n) < 0.4, 0)).cast(pl.Int8),
            "label_timestamp": pl.Series(
                np.where(labelled, ts + rng.choice(np.array([0, HOUR, 40 * DAY]), size=n), 0)
            ).cast(pl.Datetime("us", "UTC")),
        }
    ).with_columns(
        pl.when(pl.Series(labelled)).then(pl.col("label_timestamp")).alias("label_timestamp")
    )
    assert parity_problems(make_store, conform(frame)) == []


def test_bookkeeping_lives_in_the_store(make_store: StoreFactory) -> None:
    """The clock, the label queue and the claims are the store's: a second executor over the
    same store continues where the first stopped."""
    table = random_events(7, 200)
    catalogue = resolve_catalogue("default", table)
    store = make_store()
    assert store.clock is None
    assert store.next_label_at == NEVER
    first = OnlineFeatures(catalogue, store)
    first.warm(table.head(120), freeze_gc=False)
    assert store.clock == table.get_column("timestamp").to_physical()[119]
    second = OnlineFeatures(catalogue, store)
    tail = table.tail(80)
    for txn, label, at in (
        tail.filter(pl.col("label_timestamp").is_not_null())
        .select("transaction_id", "label", pl.col("label_timestamp").to_physical())
        .iter_rows()
    ):
        second.apply_label(txn, int(label), int(at))
    rows = [second.update(event) for event in tail.iter_rows(named=True)]
    expected = compute_offline(table, catalogue).tail(80)
    ids = tail.get_column("transaction_id")
    assert mismatches(expected, to_frame(ids, rows, catalogue), REL) == []


def test_labels_queued_by_another_process_cost_an_event_no_round_trip(
    redis_stores: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Redis: labels queued by another process are applied by the script of the first event
    after their arrival: every event is one request, each label counts once, none is lost."""
    from redis.connection import Connection

    from frisk.features.stores.redis import RedisStore

    table = random_events(7, 200)
    catalogue = resolve_catalogue("default", table)
    writer = redis_stores()
    assert isinstance(writer, RedisStore)
    labeller = RedisStore(writer.client, key_prefix=writer.prefix)
    online = OnlineFeatures(catalogue, writer)
    queuer = OnlineFeatures(catalogue, labeller)
    labelled = table.filter(pl.col("label_timestamp").is_not_null())
    for txn, label, at in labelled.select(
        "transaction_id", "label", pl.col("label_timestamp").to_physical()
    ).iter_rows():
        queuer.apply_label(txn, int(label), int(at))  # routed by the claims, when due
    queue = f"{writer.prefix}:{{meta}}:pending"
    queued = writer.client.zcard(queue)
    assert queued == labelled.height

    sent = [0]
    original = Connection.send_packed_command

    def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    rows, requests = [], []
    for event in table.drop("label", "label_timestamp").iter_rows(named=True):
        before = sent[0]
        rows.append(online.update(event))
        requests.append(sent[0] - before)
    monkeypatch.undo()
    due = queued - writer.client.zcard(queue)
    assert due > 10  # labels did fall due among the events
    assert requests == [1] * table.height
    ids = table.get_column("transaction_id")
    assert mismatches(compute_offline(table, catalogue), to_frame(ids, rows, catalogue), REL) == []


def test_labels_find_transactions_and_entities_with_any_ids(make_store: StoreFactory) -> None:
    """Labels routed by the claims (no event given) reach the label records of ids with quotes,
    braces, backslashes, control characters and characters beyond ASCII: on Redis the event's
    script builds the claim's and the records' keys from JSON it decodes itself."""
    odd = ['t"q', "t}{b", "t\\s", "t\x1fu", "tλ", "t💳", "t\u2028", "t:{x}"]
    table = random_events(11, 160)
    ids = [f"{odd[i % len(odd)]}-{i}" for i in range(table.height)]
    payers = table.get_column("payer_id").to_list()
    table = table.with_columns(
        pl.Series("transaction_id", ids),
        pl.Series("payer_id", [f"{p}{odd[i % len(odd)]}" for i, p in enumerate(payers)]),
    )
    catalogue = resolve_catalogue("default", table)
    online = OnlineFeatures(catalogue, make_store())
    labelled = table.filter(pl.col("label_timestamp").is_not_null())
    assert labelled.height > 20
    for txn, label, at in labelled.select(
        "transaction_id", "label", pl.col("label_timestamp").to_physical()
    ).iter_rows():
        online.apply_label(txn, int(label), int(at))
    rows = [online.update(e) for e in table.drop("label", "label_timestamp").iter_rows(named=True)]
    got = to_frame(table.get_column("transaction_id"), rows, catalogue)
    assert mismatches(compute_offline(table, catalogue), got, REL) == []


def test_a_backlog_of_labels_due_is_applied_in_shares_by_one_redis(
    redis_stores: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Labels due by the thousand (a bulk import) reach the event after them whole, a bounded
    share per script call (Redis is never held for long), and the queue ends empty."""
    from redis.connection import Connection

    from frisk.features.stores.redis import RedisStore

    n = 1_201
    ts = np.datetime64("2024-03-01T00:00:00", "us") + np.arange(n) * np.timedelta64(60, "s")
    last = int(ts[-1].astype(np.int64))
    rng = np.random.default_rng(5)
    table = conform(
        pl.DataFrame(
            {
                "transaction_id": [f"b{i}" for i in range(n)],
                "timestamp": pl.Series(ts).dt.replace_time_zone("UTC"),
                "amount": np.round(rng.lognormal(3.0, 1.0, size=n), 2) + 0.01,
                "currency": "EUR",
                "payer_id": [f"p{v}" for v in rng.integers(0, 7, size=n)],
                "payee_id": [f"m{v}" for v in rng.integers(0, 4, size=n)],
                "device_id": [f"d{v}" for v in rng.integers(0, 5, size=n)],
                # every label arrives just before the last event
                "label": pl.Series((rng.random(n) < 0.3).astype(np.int8)),
                "label_timestamp": pl.Series([last - 1] * (n - 1) + [None], dtype=pl.Int64)
                .cast(pl.Datetime("us"))
                .dt.replace_time_zone("UTC"),
            }
        )
    )
    catalogue = resolve_catalogue("default", table)
    store = redis_stores()
    assert isinstance(store, RedisStore)
    online = OnlineFeatures(catalogue, store)
    for txn, label, at in (
        table.head(n - 1)
        .select("transaction_id", "label", pl.col("label_timestamp").to_physical())
        .iter_rows()
    ):
        online.apply_label(txn, int(label), int(at))
    events = list(table.drop("label", "label_timestamp").iter_rows(named=True))
    rows = [online.update(event) for event in events[:-1]]
    sent = [0]
    original = Connection.send_packed_command

    def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    rows.append(online.update(events[-1]))
    monkeypatch.undo()
    assert sent[0] == 3  # 1,200 labels due: 500 a call
    assert store.client.zcard(f"{store.prefix}:{{meta}}:pending") == 0
    ids = table.get_column("transaction_id")
    assert mismatches(compute_offline(table, catalogue), to_frame(ids, rows, catalogue), REL) == []


def test_a_lost_label_queue_head_is_set_again_when_a_store_opens(
    redis_stores: StoreFactory,
) -> None:
    """The queue's head key (what the event's script reads to know a label is due) deleted or
    evicted: the next store to open sets it again from the queue, and the labels count."""
    from frisk.features.stores.redis import RedisStore

    table = random_events(7, 200)
    catalogue = resolve_catalogue("default", table)
    first = redis_stores()
    assert isinstance(first, RedisStore)
    queuer = OnlineFeatures(catalogue, first)
    for txn, label, at in (
        table.filter(pl.col("label_timestamp").is_not_null())
        .select("transaction_id", "label", pl.col("label_timestamp").to_physical())
        .iter_rows()
    ):
        queuer.apply_label(txn, int(label), int(at))
    assert first.client.delete(f"{first.prefix}:{{meta}}:head") == 1
    online = OnlineFeatures(catalogue, RedisStore(first.client, key_prefix=first.prefix))
    rows = [online.update(e) for e in table.drop("label", "label_timestamp").iter_rows(named=True)]
    ids = table.get_column("transaction_id")
    assert mismatches(compute_offline(table, catalogue), to_frame(ids, rows, catalogue), REL) == []


def test_a_queued_label_that_does_not_decode_is_dropped_and_the_rest_count(
    redis_stores: StoreFactory,
) -> None:
    """A member of the label queue that is not a label (written by hand, or by another
    version) is dropped by the script before it writes anything; the event and the other
    labels count."""
    from frisk.features.stores.redis import RedisStore

    table = random_events(7, 200)
    catalogue = resolve_catalogue("default", table)
    store = redis_stores()
    assert isinstance(store, RedisStore)
    online = OnlineFeatures(catalogue, store)
    for txn, label, at in (
        table.filter(pl.col("label_timestamp").is_not_null())
        .select("transaction_id", "label", pl.col("label_timestamp").to_physical())
        .iter_rows()
    ):
        online.apply_label(txn, int(label), int(at))
    first = int(table.get_column("timestamp").to_physical()[0])
    queue = f"{store.prefix}:{{meta}}:pending"
    store.client.zadd(queue, {"0" * 20 + '["not a label': first + 1})
    store.client.zadd(queue, {"0" * 20 + '{"a": 1}': first + 2})
    rows = [online.update(e) for e in table.drop("label", "label_timestamp").iter_rows(named=True)]
    ids = table.get_column("transaction_id")
    assert mismatches(compute_offline(table, catalogue), to_frame(ids, rows, catalogue), REL) == []
    assert store.client.zscore(queue, "0" * 20 + '["not a label') is None


def test_a_label_of_an_id_that_is_not_text_is_refused(make_store: StoreFactory) -> None:
    table = random_events(7, 20)
    online = OnlineFeatures(resolve_catalogue("default", table), make_store())
    with pytest.raises(InvalidEventError, match="transaction_id"):
        online.apply_label("t\ud800", 1, 10**15)


def test_a_redis_store_without_a_cache_reads_first(
    require_service: Callable[[str, str, int], None],
) -> None:
    """``cache_size`` 0: every record read before its event (two round trips), same features."""
    from frisk.features.stores.redis import RedisStore

    require_service("Redis", "127.0.0.1", 6379)
    store = RedisStore.connect(
        REDIS_URL, key_prefix=f"frisk-test-{uuid.uuid4().hex[:10]}", timeout=10.0, cache_size=0
    )
    try:
        assert parity_problems(lambda: store, random_events(8, 300)) == []
    finally:
        store.clear()
        store.close()


def test_read_gives_the_state_as_committed(make_store: StoreFactory) -> None:
    """``read`` (what ``peek`` computes on) sees every commit: an event's features by ``peek``
    are those ``update`` then returns for it, and ``peek`` changes nothing."""
    table = random_events(6, 150)
    catalogue = resolve_catalogue("default", table)
    online = OnlineFeatures(catalogue, make_store())
    events = list(table.iter_rows(named=True))
    online.warm(table.head(100), freeze_gc=False)
    for event in events[100:]:
        peeked = online.peek(event)
        assert online.peek(event) == pytest.approx(peeked, nan_ok=True)
        assert online.update(event) == pytest.approx(peeked, nan_ok=True)


_CALENDAR = ("hour_of_day", "day_of_week", "is_night", "is_weekend")


def _out_of_order(seed: int, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A stream with some events arriving after later ones, and the same stream as the rule
    says it is learnt: each late event at the time of the latest one before it."""
    table = _unlabelled(random_events(seed, n, extras=False))
    rng = np.random.default_rng(seed)
    order = np.arange(n)
    for i in rng.choice(np.arange(1, n - 3), size=n // 10, replace=False):
        order[i], order[i + 2] = order[i + 2], order[i]  # event i arrives two places late
    arrived = table[order.tolist()]
    micros = arrived.get_column("timestamp").to_physical()
    learnt = arrived.with_columns(
        micros.cum_max().cast(pl.Datetime("us", "UTC")).alias("timestamp")
    )
    return arrived, learnt


def test_out_of_order_events_follow_the_rule(make_store: StoreFactory) -> None:
    """An event behind the clock is learnt at the clock's time (counted in ``late_events``):
    its features, and every later one's, are the offline ones of the stream so retimed
    (calendar features, which read the event's own time, aside)."""
    arrived, learnt = _out_of_order(10, 200)
    catalogue = resolve_catalogue("default", arrived)
    online = OnlineFeatures(catalogue, make_store())
    got = _features_after(arrived, online, range(arrived.height))
    late = int((learnt.get_column("timestamp") != arrived.get_column("timestamp")).sum())
    assert late > 0
    assert online.late_events == late
    assert online.refused_late == 0
    keep = [name for name in got.columns if name not in _CALENDAR]
    expected = compute_offline(learnt, catalogue)
    assert mismatches(expected.select(keep), got.select(keep), REL) == []


def test_an_event_later_than_the_bound_is_refused_and_changes_nothing(
    make_store: StoreFactory,
) -> None:
    table = _unlabelled(random_events(11, 120, extras=False))
    catalogue = resolve_catalogue("default", table)
    events = list(table.iter_rows(named=True))
    online = OnlineFeatures(catalogue, make_store(), max_lateness=HOUR)
    for event in events[:80]:
        online.update(event)
    clock = online.store.clock
    assert clock is not None
    stale = {**events[10], "transaction_id": "too-late"}  # far behind the clock
    with pytest.raises(LateEventError, match=r"behind the feature state's clock.*refused"):
        online.update(stale)
    assert online.refused_late == 1
    assert online.store.clock == clock
    got = _features_after(table, online, range(80, 120))
    assert mismatches(compute_offline(table, catalogue).tail(40), got, REL) == []
    # warm and replay learn every event, the bound is for live updates
    OnlineFeatures(catalogue, max_lateness=HOUR).warm(table.reverse(), freeze_gc=False)


def test_a_store_refuses_state_of_another_catalogue(make_store: StoreFactory) -> None:
    store = make_store()
    OnlineFeatures(resolve_catalogue("default"), store)
    other = resolve_catalogue("default", random_events(0, 5))
    with pytest.raises(FeatureError, match="catalogue version"):
        OnlineFeatures(other, store)


def test_the_suite_catches_a_store_that_drops_writes() -> None:
    """The parity check is not vacuous: a store losing one write in three fails it."""
    problems = parity_problems(DroppingStore, random_events(1, 300))
    assert problems != []
    # and the copying fake on its own, writes kept, passes: the loss is what fails
    assert parity_problems(CopyingStore, random_events(1, 300)) == []


@pytest.fixture(params=["redis", "redis-cluster"])
def make_shared(request: pytest.FixtureRequest) -> StoreFactory:
    """Stores of one state shared by several processes: each call connects again (as another
    process would) to the same key prefix."""
    from frisk.features.stores.redis import RedisStore

    factory: StoreFactory = request.getfixturevalue(
        "redis_stores" if request.param == "redis" else "cluster_stores"
    )
    first = factory()
    assert isinstance(first, RedisStore)

    def again() -> StateStore:
        return RedisStore(first.client, key_prefix=first.prefix, cluster=first.cluster)

    return again


def _unlabelled(table: pl.DataFrame) -> pl.DataFrame:
    return table.with_columns(
        pl.lit(None, dtype=table.schema["label"]).alias("label"),
        pl.lit(None, dtype=table.schema["label_timestamp"]).alias("label_timestamp"),
    )


def _features_after(table: pl.DataFrame, online: OnlineFeatures, rows: range) -> pl.DataFrame:
    events = list(table.iter_rows(named=True))
    vectors = [online.update(events[i]) for i in rows]
    ids = table.get_column("transaction_id").gather(list(rows))
    return to_frame(ids, vectors, online.catalogue)


def test_events_delivered_twice_to_another_process_count_once(make_shared: StoreFactory) -> None:
    table = _unlabelled(random_events(3, 160, extras=False))
    catalogue = resolve_catalogue("default", table)
    one, two = OnlineFeatures(catalogue, make_shared()), OnlineFeatures(catalogue, make_shared())
    _features_after(table, one, range(100))
    _features_after(table, two, range(60, 100))  # redelivered to a second process
    later = _features_after(table, one, range(100, 160))
    expected = compute_offline(table, catalogue).tail(60)
    assert mismatches(expected, later, REL) == []


def test_writes_of_another_process_are_seen(make_shared: StoreFactory) -> None:
    """Two processes take turns on the same entities: each one's records (cached, where the
    store caches) lack the other's turn, which each applies from the journals, and the
    features are those of one sequential process."""
    table = _unlabelled(random_events(5, 160, extras=False))
    catalogue = resolve_catalogue("default", table)
    from frisk.features.stores.redis import RedisStore

    one, two = OnlineFeatures(catalogue, make_shared()), OnlineFeatures(catalogue, make_shared())
    turns = [
        (one, range(40)),
        (two, range(40, 80)),
        (one, range(80, 120)),
        (two, range(120, 160)),
    ]
    got = pl.concat([_features_after(table, online, rows) for online, rows in turns])
    assert mismatches(compute_offline(table, catalogue), got, REL) == []
    # each turn after the first applied the changes the other process had made, and no event
    # was computed twice
    assert isinstance(one.store, RedisStore)
    assert isinstance(two.store, RedisStore)
    assert one.store.replayed > 0
    assert two.store.replayed > 0


def test_a_record_of_an_expired_journal_is_never_continued(make_shared: StoreFactory) -> None:
    """Every journal expires (its TTL) and another process may start the key afresh: a process
    still holding the old record finds its version outside the new journal's and reads that
    journal whole, so its features are those of the entities' new history only."""
    from frisk.features.stores.redis import RedisStore

    table = _unlabelled(hot_payee_events(6, 120, payers=6)[0])  # within an hour
    catalogue = resolve_catalogue("default", table)
    one, two = OnlineFeatures(catalogue, make_shared()), OnlineFeatures(catalogue, make_shared())
    _features_after(table, one, range(10))  # one holds every record it wrote
    store = one.store
    assert isinstance(store, RedisStore)
    client = store.client
    gone = [
        key
        for key in store._scan()  # every entity's and label record's journal "expires"
        if b"{key:" in key or b"{label" in key
    ]
    assert gone
    for key in gone:
        client.delete(key)
    # two starts the same keys afresh, and takes them past the versions one holds
    _features_after(table, two, range(10, 70))
    got = _features_after(table, one, range(70, 120))
    fresh = OnlineFeatures(catalogue, MemoryStore())  # the history since the keys expired
    want = to_frame(
        table.get_column("transaction_id").slice(10),
        [fresh.update(event) for event in list(table.iter_rows(named=True))[10:]],
        catalogue,
    ).tail(50)
    assert mismatches(want, got, REL) == []


def test_a_journal_expires_a_lifetime_after_its_last_change(make_shared: StoreFactory) -> None:
    """Each change leaves its journal's TTL at least the space's lifetime (with its grace) and
    at most 1/64 more. A process sets it again only once 1/128 of it has passed since it last
    did (a hot entity's TTL is not set at every change; on a cluster every change sets it);
    another process sets it at its first change; a new journal's is always set."""
    from frisk.features.stores.redis import GRACE_MS, RedisStore

    table = _unlabelled(hot_payee_events(1, 30, payers=3)[0])
    catalogue = resolve_catalogue("default", table)
    one, two = OnlineFeatures(catalogue, make_shared()), OnlineFeatures(catalogue, make_shared())
    store = one.store
    assert isinstance(store, RedisStore)
    client = store.client
    events = list(table.iter_rows(named=True))
    payee = events[0]["payee_id"]
    same = [event for event in events if event["payee_id"] == payee][:4]
    assert len(same) == 4
    space = next(i for i, spec in enumerate(one.layout.spaces) if spec.name == "key:payee")
    key = store._key(one.layout.spaces[space], payee)
    lifetime = one.layout.spaces[space].lifetime // 1000 + GRACE_MS
    most = lifetime + lifetime // 64

    one.update(same[0])  # a new journal
    assert lifetime < client.pttl(key) <= most
    client.pexpire(key, lifetime + 1000)  # as though set a while ago
    one.update(same[1])  # the same process, soon after: not set again
    if store.cluster:
        assert lifetime + 1000 < client.pttl(key) <= most
    else:
        assert lifetime < client.pttl(key) <= lifetime + 1000
    two.update(same[2])  # another process sets it at its first change
    assert lifetime + 1000 < client.pttl(key) <= most
    client.pexpire(key, lifetime + 1000)
    assert store._cache is not None
    held = store._cache._entries[key]
    store._cache._entries[key] = (*held[:5], held[5] - lifetime / 128 / 1000)  # 1/128 ago
    one.update(same[3])
    assert lifetime + 1000 < client.pttl(key) <= most


def test_a_retry_after_a_lost_reply_counts_nothing_twice(make_shared: StoreFactory) -> None:
    """An event that the store took and whose answer was lost: the retried event changes
    nothing, and later features are those of a clean run."""
    _retry_after_a_failure(make_shared, partial=False)


def test_a_retry_after_a_partial_write_on_a_cluster_completes_it(
    cluster_stores: StoreFactory,
) -> None:
    """On a cluster each entity takes its part of an event by its own script: an event that
    some entities took and others did not (their scripts failed) is completed by the retry
    (the missing entities only), and later features are those of a clean run. (One Redis
    takes an event all or none.)"""
    from frisk.features.stores.redis import RedisStore

    first = cluster_stores()
    assert isinstance(first, RedisStore)
    _retry_after_a_failure(
        lambda: RedisStore(first.client, key_prefix=first.prefix, cluster=True), partial=True
    )


def _retry_after_a_failure(make_shared: StoreFactory, *, partial: bool) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from frisk.features.stores.redis import RedisStore

    table = _unlabelled(random_events(4, 120, extras=False))
    catalogue = resolve_catalogue("default", table)
    store = make_shared()
    assert isinstance(store, RedisStore)
    online = OnlineFeatures(catalogue, store)
    events = list(table.iter_rows(named=True))
    for event in events[:70]:
        online.update(event)
    if partial:
        entity = store._entity
        calls = [0]

        def flaky(keys: list[str], args: list[Any]) -> Any:
            calls[0] += 1
            if calls[0] % 2 == 0:
                raise RedisConnectionError("connection lost (simulated)")
            return entity(keys=keys, args=args)

        store._entity = flaky  # type: ignore[assignment]
        with pytest.raises(StateUnavailable, match="simulated"):
            online.update(events[70])
        store._entity = entity
    else:
        begin = store.begin

        def lost(*args: Any) -> Any:
            begin(*args)
            raise FeatureError("connection lost after the write (simulated)")

        store.begin = lost  # type: ignore[method-assign]
        with pytest.raises(FeatureError, match="simulated"):
            online.update(events[70])
        store.begin = begin  # type: ignore[method-assign]
    online.update(events[70])  # the retry
    later = _features_after(table, online, range(71, 120))
    expected = compute_offline(table, catalogue).tail(49)
    assert mismatches(expected, later, REL) == []


@pytest.mark.parametrize("cache_size", [0, 2, 50_000])
def test_a_journal_stays_short_whatever_the_cache_holds(
    redis_stores: StoreFactory, cache_size: int
) -> None:
    """Every process sends a record it brought far enough as the journal's new snapshot, so a
    hot payee's journal holds a snapshot and a few changes, whether the record stays cached,
    is evicted between its events, or no cache is kept; the features stay exact."""
    from frisk.features.stores.redis import SNAPSHOT_BYTES, SNAPSHOT_EVERY, RedisStore

    first = redis_stores()
    assert isinstance(first, RedisStore)
    table = _unlabelled(hot_payee_events(3, 300, payers=12)[0])
    catalogue = resolve_catalogue("default", table)
    store = RedisStore(first.client, key_prefix=first.prefix, cache_size=cache_size)
    got = online_features(table, catalogue, store)
    assert mismatches(compute_offline(table, catalogue), got, REL) == []
    for payee in ("m0", "m1", "m2"):
        journal = first.client.hgetall(f"{first.prefix}:{{key:payee:{payee}}}")
        version, snapshot = int(journal[b"v"]), int(journal[b"sv"])
        assert b"s" in journal  # about a hundred events each: snapshots were sent
        assert version - snapshot <= max(SNAPSHOT_EVERY, len(journal[b"s"]) // SNAPSHOT_BYTES)
        assert len(journal) == 3 + version - snapshot  # v, sv, s and the changes after sv


def test_a_large_record_is_snapshotted_by_its_size(redis_stores: StoreFactory) -> None:
    """A payee whose exact windows hold a thousand events has a record of tens of KB: it is
    snapshotted about once per SNAPSHOT_BYTES of it, not every SNAPSHOT_EVERY changes, so the
    encoding it costs per event stays bounded; the features stay exact."""
    from frisk.features.stores.redis import SNAPSHOT_BYTES, SNAPSHOT_EVERY, RedisStore

    first = redis_stores()
    assert isinstance(first, RedisStore)
    table = _unlabelled(hot_payee_events(5, 3000, payers=400)[0])
    catalogue = resolve_catalogue("default", table)
    sent: list[int] = []
    store = RedisStore(first.client, key_prefix=first.prefix)
    send = store._send_one

    def counting(keys: list[str], args: list[Any]) -> Any:
        sent.extend(len(blob) for _, _, blob, _ in store._snapshots)
        return send(keys, args)

    store._send_one = counting  # type: ignore[method-assign]
    got = online_features(table, catalogue, store)
    assert mismatches(compute_offline(table, catalogue), got, REL) == []
    journal = first.client.hgetall(f"{first.prefix}:{{key:payee:m0}}")
    size = len(journal[b"s"])
    assert size > 2 * SNAPSHOT_EVERY * SNAPSHOT_BYTES  # a large record
    assert SNAPSHOT_EVERY < int(journal[b"v"]) - int(journal[b"sv"]) <= size // SNAPSHOT_BYTES
    # snapshots cost about SNAPSHOT_BYTES per event (5.4 MB here), not a record every 16
    # changes (10.5 MB, measured with that cadence)
    assert sum(sent) < 3 * SNAPSHOT_BYTES * table.height


def test_concurrent_writers_on_one_redis_lose_nothing_and_count_nothing_twice(
    redis_stores: StoreFactory,
) -> None:
    """Four writers (threads, each with its own connection) feed the events of their own payers,
    all paying the same three payees: each writer applies the others' events on a hot payee
    from its journal, none is lost or counted twice, and none is computed twice, so the final
    counts and sums are those of one sequential writer."""
    import threading

    from frisk.features.stores.redis import RedisStore

    writers = 4
    hot, payer = hot_payee_events(9, 400, payers=40)
    table = _unlabelled(hot)
    catalogue = resolve_catalogue("default", table)
    first = redis_stores()
    assert isinstance(first, RedisStore)
    events = list(table.iter_rows(named=True))
    failures: list[BaseException] = []

    def write(w: int) -> None:
        try:
            store = RedisStore(first.client, key_prefix=first.prefix)
            online = OnlineFeatures(catalogue, store)
            for i, event in enumerate(events):
                if payer[i] % writers == w:
                    online.update(event)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    sequential = OnlineFeatures(catalogue, MemoryStore())
    for event in events:
        sequential.update(event)
    shared = OnlineFeatures(catalogue, RedisStore(first.client, key_prefix=first.prefix))
    names = [
        "txn_count_by_payee_24h",
        "amount_sum_by_payee_24h",
        "distinct_payer_by_payee_24h",
        "txn_count_by_payer_24h",
        "amount_sum_by_payer_24h",
        "txn_count_by_device_24h",
    ]
    slots = [catalogue.names.index(name) for name in names]
    for payee in ("m0", "m1", "m2"):
        for device in ("d0", "d4"):
            probe = {**events[-1], "transaction_id": "probe", "payee_id": payee}
            probe |= {"device_id": device, "timestamp": events[-1]["timestamp"]}
            want, got = sequential.peek(probe), shared.peek(probe)
            assert [got[s] for s in slots] == [want[s] for s in slots], (payee, device)
