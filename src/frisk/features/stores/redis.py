"""Feature state in Redis (or Valkey, or a Redis Cluster), shared by every process of a service.

Install with the ``[redis]`` extra (redis-py and hiredis). Keys, under a prefix (``frisk`` by
default), with a hash tag per entity so that every key one script touches lives in one slot:

    <prefix>:{key:payer:p-1}          hash: r = the record (JSON, integers only), v = its version
    <prefix>:{applied:t-1}            one Redis: transaction t-1 was applied (TTL: a day)
    <prefix>:{key:payer:p-1}:tx       a cluster: the last 256 transaction ids applied to the entity
    <prefix>:{meta}:layout            the format and catalogue version this state was kept for
    <prefix>:{meta}:clock             the latest event time committed (µs)
    <prefix>:{meta}:pending / :seq    labels waiting for their arrival time, in queueing order
    <prefix>:{txn:t-1}                a transaction's claim: its time and label keys (TTL: horizon)

Per event, one round trip: ``load`` hands out the records this process cached (with the version
each was read or written at; ``redis_cache``), and ``commit`` sends them back in one script
(``event.lua``) that stores them all only if every version still holds, the clock has not passed
the event's time and no queued label is due before it; else it stores nothing and answers with
the current records, clock and label queue (``StateConflict``: the executor computes the event
again on them, a second round trip). The script applies a transaction once (a retried event
changes nothing) and answers with the clock and the head of the label queue, which the next
event starts from. ``read`` (``peek``) reads the records afresh. With ``cache_size`` 0, ``load``
reads every record first (two round trips). Scripts are sent by EVALSHA (NOSCRIPT: loaded and
sent again). Records expire by TTL from their ``expires_at``.

A Redis Cluster spreads an event's keys over slots. The cache holds records encoded there;
``load`` decodes them (no request), and each record is checked and stored by its own script
(``record.lua``: version and transaction id per entity), sent at once with the clock's script
from a small thread pool (redis-py pipelines no scripts on a cluster): one round trip's wait. A
stale entity answers with its record and the event is computed again from the records it
started from; the entities it already wrote skip it (they know the transaction). A label's
change (no transaction id) checks every version first, a second round trip. The clock and the
label queue are not checked with the records there: on a cluster, run one writer per key
prefix. With ``cache_size`` 0, reads go first as one cluster pipeline, and a write conflict
raises ``StateUnavailable`` (a retry completes the event without counting twice).

Every driver error is translated here, once, into ``StateUnavailable``, within the configured
timeouts. redis-py's own retries are off: a request that timed out may have run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from importlib.resources import files
from typing import Any, Final

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from frisk.errors import ConfigError, FeatureError, StateConflict, StateUnavailable
from frisk.features.state import NEVER, DueLabel, Found, SpaceSpec, StateLayout
from frisk.features.stores.redis_cache import RecordCache

__all__ = ["REDIS_FORMAT", "RedisStore"]

#: the layout of the keys above; state of another format is refused, never read
# 2: one applied marker per transaction on a single Redis; 3: records written by orjson
REDIS_FORMAT: Final = 3
#: transaction ids kept per entity to refuse a second application of one transaction
KEEP_TRANSACTIONS: Final = 256
#: how long (ms) one Redis remembers that a transaction was applied (a retry within it is a no-op)
APPLIED_MS: Final = 24 * 3_600_000
#: how long (ms) a key outlives its record's expiry time
GRACE_MS: Final = 3_600_000
#: records cached per process by default (about 5-10 KB each in Python)
DEFAULT_CACHE_SIZE: Final = 50_000


def _script(name: str) -> str:
    return files("frisk.features.stores").joinpath(name).read_text(encoding="utf-8")


class RedisStore:
    """A ``StateStore`` over a Redis client (``redis.Redis`` or ``redis.cluster.RedisCluster``)."""

    def __init__(
        self,
        client: Any,
        *,
        key_prefix: str = "frisk",
        cluster: bool = False,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if not key_prefix or any(c in key_prefix for c in "{} \t\n"):
            raise ConfigError(f"state key prefix {key_prefix!r}: no braces or spaces, not empty")
        self.client = client
        self.prefix = key_prefix
        self.cluster = cluster
        self._meta = f"{key_prefix}:{{meta}}"
        self._clock: int | None = None
        self._next = NEVER
        self._layout: StateLayout | None = None
        self._specs: tuple[SpaceSpec, ...] = ()
        self._versions: list[int] = []
        self._senders: ThreadPoolExecutor | None = None  # cluster mode: concurrent scripts
        # One Redis: the records last loaded or written, so that an event needs no read.
        # On a cluster it holds records encoded (decoded at each load): an event whose scripts
        # were refused on some nodes is computed again from the records it started from.
        self._cache = RecordCache(cache_size) if cache_size > 0 else None
        self._blobs: list[Any] = []  # a cluster: the encoded records of the last load
        with self._translated():
            self._record = client.register_script(_script("record.lua"))
            self._move_clock = client.register_script(_script("clock.lua"))
            self._queue = client.register_script(_script("queue.lua"))
            self._due = client.register_script(_script("due.lua"))
            self._event = client.register_script(_script("event.lua"))

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        cluster: bool = False,
        key_prefix: str = "frisk",
        connect_timeout: float = 1.0,
        timeout: float = 0.5,
        pool_size: int = 16,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> RedisStore:
        """A store on the Redis at ``url`` (``redis://``, ``rediss://``; a cluster node)."""
        # No silent retries: a request that timed out may have run, and queueing a label twice
        # would count it twice. A failure is StateUnavailable; the caller decides.
        options: dict[str, Any] = {
            "socket_connect_timeout": connect_timeout,
            "socket_timeout": timeout,
            "max_connections": pool_size,
            "retry": Retry(NoBackoff(), 0),
        }
        with _translated(url):
            client: Any = (
                redis.cluster.RedisCluster.from_url(url, **options)
                if cluster
                else redis.Redis.from_url(url, **options)
            )
            client.ping()
        return cls(client, key_prefix=key_prefix, cluster=cluster, cache_size=cache_size)

    # -- StateStore ------------------------------------------------------------------------

    @property
    def clock(self) -> int | None:
        return self._clock

    @property
    def next_label_at(self) -> int:
        return self._next

    def open(self, layout: StateLayout) -> None:
        for spec in layout.spaces:
            if spec.encode is None or spec.decode is None:
                raise FeatureError(f"space {spec.name!r} has no codec: Redis cannot keep it")
        want = json.dumps({"format": REDIS_FORMAT, "catalogue_version": layout.catalogue_version})
        with self._translated():
            self.client.set(f"{self._meta}:layout", want, nx=True)
            found = self.client.get(f"{self._meta}:layout")
            pipe = self.client.pipeline(transaction=False)
            pipe.get(f"{self._meta}:clock")
            pipe.zrange(f"{self._meta}:pending", 0, 0, withscores=True)
            clock, head = pipe.execute()
        held = json.loads(found) if found is not None else {}
        if held.get("format") != REDIS_FORMAT:
            raise FeatureError(
                f"Redis state under {self.prefix!r} has format {held.get('format')!r}; this Frisk "
                f"reads format {REDIS_FORMAT} (rebuild it: frisk state rebuild)"
            )
        if held.get("catalogue_version") != layout.catalogue_version:
            raise FeatureError(
                f"Redis state under {self.prefix!r} was kept for catalogue version "
                f"{held.get('catalogue_version')!r}, not {layout.catalogue_version!r}; refusing to "
                f"read it (use another key prefix, or rebuild it: frisk state rebuild)"
            )
        self._layout, self._specs = layout, layout.spaces
        self._versions = [0] * len(layout.spaces)
        if self._cache is not None:
            self._cache.clear()
        self._clock = None if clock is None else int(clock)
        self._next = int(head[0][1]) if head else NEVER

    def load(self, keys: Sequence[str | None]) -> Sequence[Any]:
        cache = self._cache
        if cache is None:
            fetched, self._versions = self._fetch(keys)
            return fetched
        specs = self._specs
        names = [
            None if key is None else self._key(spec, key)
            for spec, key in zip(specs, keys, strict=True)
        ]
        versions, found = cache.take([name for name in names if name is not None])
        records: list[Any] = [None] * len(specs)
        self._versions = [0] * len(specs)
        j = 0
        for i, name in enumerate(names):
            if name is not None:
                records[i], self._versions[i] = found[j], versions[j]
                j += 1
        if self.cluster:
            self._blobs = records
            records = [
                None if blob is None else _decode(spec, blob)
                for spec, blob in zip(specs, records, strict=True)
            ]
        return records

    def read(self, keys: Sequence[str | None]) -> Sequence[Any]:
        return self._fetch(keys)[0]

    def save(self, t: int, keys: Sequence[str | None], records: Sequence[Any]) -> None:
        self._write("", t, keys, records, claim=None)

    def commit(
        self, transaction_id: str, t: int, keys: Sequence[str | None], records: Sequence[Any]
    ) -> None:
        layout = self._layout
        claim = None
        if layout is not None and layout.remember:
            labels = [key for spec, key in zip(self._specs, keys, strict=True) if spec.labels]
            if labels:
                claim = (transaction_id, json.dumps([t, *labels]))
        self._write(transaction_id, t, keys, records, claim)
        if self._clock is None or t > self._clock:  # (a cluster's scripts answer no clock)
            self._clock = t

    def queue_label(self, at: int, transaction_id: str, label: int, found: Found | None) -> None:
        body = json.dumps([at, transaction_id, label, None if found is None else list(found)])
        with self._translated():
            self._queue(keys=[f"{self._meta}:pending", f"{self._meta}:seq"], args=[str(at), body])
        self._next = min(self._next, at)

    def due_labels(self, t: int) -> list[DueLabel]:
        with self._translated():
            members = self._due(keys=[f"{self._meta}:pending"], args=[str(t)])
            head = self.client.zrange(f"{self._meta}:pending", 0, 0, withscores=True)
        self._next = int(head[0][1]) if head else NEVER
        if not members:
            return []
        taken = []
        for member in members:
            text = member.decode() if isinstance(member, bytes) else str(member)
            at, transaction_id, label, found = json.loads(text[20:])
            taken.append((at, transaction_id, label, None if found is None else tuple(found)))
        unknown = [txn for _, txn, _, found in taken if found is None]
        claims: dict[str, Found] = {}
        if unknown:
            with self._translated():
                pipe = self.client.pipeline(transaction=False)
                for txn in unknown:
                    pipe.get(self._claim_key(txn))
                for txn, value in zip(unknown, pipe.execute(), strict=True):
                    if value is not None:
                        claims[txn] = tuple(json.loads(value))
        return [
            (int(at), int(label), found if found is not None else claims.get(txn))
            for at, txn, label, found in taken
        ]

    def sweep(self) -> int:
        """Nothing to do: Redis drops expired records itself (each key has its TTL)."""
        return 0

    # -- beyond the Protocol ---------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What this prefix holds: format, catalogue version, clock, keys, labels, memory."""
        with self._translated():
            found = self.client.get(f"{self._meta}:layout")
            keys = sum(1 for _ in self._scan())
            pending = self.client.zcard(f"{self._meta}:pending")
            clock = self.client.get(f"{self._meta}:clock")
            memory = self.client.info("memory")
        if self.cluster:
            used = sum(int(node["used_memory"]) for node in memory.values())
        else:
            used = int(memory["used_memory"])
        held = json.loads(found) if found is not None else {}
        return {
            "key_prefix": self.prefix,
            "format": held.get("format"),
            "catalogue_version": held.get("catalogue_version"),
            "clock": None if clock is None else int(clock),
            "keys": keys,
            "pending_labels": int(pending),
            "used_memory_bytes": used,
        }

    def clear(self) -> int:
        """Delete every key under this prefix (before a rebuild; after a test); how many."""
        dropped = 0
        with self._translated():
            for key in list(self._scan()):
                dropped += int(self.client.unlink(key))
        self._clock, self._next = None, NEVER
        return dropped

    def close(self) -> None:
        if self._senders is not None:
            self._senders.shutdown()
        with self._translated():
            self.client.close()

    # -- internals -------------------------------------------------------------------------

    def _key(self, spec: SpaceSpec, key: str | None) -> str:
        return f"{self.prefix}:{{{spec.name}:{key}}}"

    def _claim_key(self, transaction_id: str) -> str:
        return f"{self.prefix}:{{txn:{transaction_id}}}"

    def _fetch(self, keys: Sequence[str | None]) -> tuple[list[Any], list[int]]:
        """The records of ``keys`` as Redis holds them now and their versions, in one pipelined
        round trip that reads the clock and the label queue's head too."""
        specs = self._specs
        names = [
            None if key is None else self._key(spec, key)
            for spec, key in zip(specs, keys, strict=True)
        ]
        with self._translated():
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                if name is not None:
                    pipe.hmget(name, "r", "v")
            pipe.get(f"{self._meta}:clock")
            pipe.zrange(f"{self._meta}:pending", 0, 0, withscores=True)
            replies = pipe.execute()
        records: list[Any] = [None] * len(specs)
        versions = [0] * len(specs)
        present = [i for i, name in enumerate(names) if name is not None]
        for i, (blob, version) in zip(present, replies, strict=False):
            if blob is not None:
                decode = specs[i].decode
                assert decode is not None
                records[i] = decode(blob)
                versions[i] = int(version)
        clock, head = replies[-2], replies[-1]
        self._clock = None if clock is None else int(clock)
        self._next = int(head[0][1]) if head else NEVER
        return records, versions

    def _scan(self) -> Iterator[Any]:
        pattern = f"{self.prefix}:*"
        if self.cluster:
            for node in self.client.get_primaries():
                yield from self.client.scan_iter(match=pattern, count=1000, target_nodes=node)
        else:
            yield from self.client.scan_iter(match=pattern, count=1000)

    def _write(
        self,
        transaction_id: str,
        t: int,
        keys: Sequence[str | None],
        records: Sequence[Any],
        claim: tuple[str, str] | None,
    ) -> None:
        layout = self._layout
        if layout is None:
            raise FeatureError("the state store is used before an executor opened it")
        names: list[str] = []
        versions: list[int] = []
        kept: list[Any] = []
        blobs: list[Any] = []
        for spec, key, record, version in zip(
            self._specs, keys, records, self._versions, strict=True
        ):
            if key is None:
                continue
            blob: bytes | str = ""
            ttl = 0
            if record is not None:
                expires_at = spec.expires_at(record)
                # Expired: its content means nothing any more, its TTL drops it.
                if expires_at > t:
                    encode = spec.encode
                    assert encode is not None
                    # TTLs run on the wall clock, records expire in event time: a grace period
                    # keeps a record read just before its TTL from vanishing before its write.
                    blob, ttl = encode(record), (expires_at - t) // 1000 + GRACE_MS
            names.append(self._key(spec, key))
            versions.append(version)
            kept.append(record)
            blobs += [version, blob, ttl]
        if self.cluster:
            self._write_cluster(transaction_id, t, keys, names, versions, blobs, claim)
            return
        keys_out = [*names, f"{self._meta}:clock", f"{self.prefix}:{{applied:{transaction_id}}}"]
        keys_out.append(f"{self._meta}:pending")
        args_out: list[Any] = [transaction_id, str(t), len(names), APPLIED_MS]
        if claim is None:
            args_out += ["", ""]
        else:
            keys_out.append(self._claim_key(claim[0]))
            args_out += [layout.label_horizon // 1000, claim[1]]
        args_out += blobs
        with self._translated():
            # EVALSHA by hand: a Script object would first ask SCRIPT EXISTS (a round trip);
            # a server that lost its scripts answers NOSCRIPT, and the Script loads and resends.
            try:
                reply = self.client.evalsha(self._event.sha, len(keys_out), *keys_out, *args_out)
            except NoScriptError:
                reply = self._event(keys=keys_out, args=args_out)
        status, clock, head = int(reply[0]), reply[1], reply[2]
        self._clock = int(clock) if clock else None
        self._next = int(head) if head else NEVER
        cache = self._cache
        if status == 1:
            if cache is not None:
                for name, version, record, (_, blob, _) in zip(
                    names, versions, kept, _triples(blobs), strict=True
                ):
                    cache.put(name, version + 1 if blob != "" else version, record)
                cache.returned()
            return
        if cache is not None:  # what Redis holds now replaces what this event changed
            spaces = [spec for spec, key in zip(self._specs, keys, strict=True) if key is not None]
            for j, (name, spec) in enumerate(zip(names, spaces, strict=True)):
                version, held = int(reply[3 + 2 * j]), reply[4 + 2 * j]
                decode = spec.decode
                assert decode is not None
                cache.put(name, version, decode(held) if held else None)
            cache.returned()
        if status < 0:
            raise StateConflict(
                f"transaction {transaction_id!r}: another process changed one of its entities "
                f"or the clock, or a label is due first, while it was computed; nothing was "
                f"written"
            )

    def _write_cluster(
        self,
        transaction_id: str,
        t: int,
        keys: Sequence[str | None],
        names: list[str],
        versions: list[int],
        blobs: list[Any],
        claim: tuple[str, str] | None,
    ) -> None:
        """On a cluster an event's keys span slots: one script per entity (``record.lua``), each
        atomic, all sent at once from a small thread pool (redis-py pipelines no scripts on a
        cluster), with the clock's script: one round trip's wait.

        Entities whose version no longer holds answer with their current record: the event
        is computed again (``StateConflict``) from the records it started from, and the
        entities it already wrote skip it (their script knows the transaction)."""
        layout = self._layout
        assert layout is not None
        if not transaction_id and self._cache is not None and any(blobs[1::3]):
            # A label's change has no transaction id that would make a second application
            # harmless: every version is checked (a round trip) before anything is written.
            checks = [x if i % 3 != 1 else "" for i, x in enumerate(blobs)]
            self._write_cluster("", t, keys, names, versions, checks, None)
        calls = [
            ([name, name + ":tx"], [transaction_id, str(t), v, blob, ttl, KEEP_TRANSACTIONS])
            for name, (v, blob, ttl) in zip(names, _triples(blobs), strict=True)
        ]
        jobs: list[Callable[[], Any]] = [partial(self._record, keys=k, args=a) for k, a in calls]
        if transaction_id:
            meta = [f"{self._meta}:clock", f"{self._meta}:pending"]
            jobs.append(partial(self._move_clock, keys=meta, args=[str(t)]))
        if claim is not None:
            horizon = layout.label_horizon // 1000
            jobs.append(partial(self.client.set, self._claim_key(claim[0]), claim[1], px=horizon))
        if self._senders is None:
            self._senders = ThreadPoolExecutor(max_workers=16, thread_name_prefix="frisk-state")
        with self._translated():
            replies = list(self._senders.map(lambda job: job(), jobs))
        if transaction_id:
            clock, head = replies[len(calls)]
            self._clock = int(clock)
            self._next = int(head) if head else NEVER
        cache = self._cache
        results = replies[: len(calls)]
        stale = [isinstance(r, list) for r in results]
        if cache is None:
            if any(stale):
                raise StateUnavailable(
                    f"another process changed an entity of transaction {transaction_id!r} "
                    f"while it was computed; the other entities may be written (a retry "
                    f"completes them): on a cluster, run one writer per key prefix"
                )
            return
        started = [blob for blob, key in zip(self._blobs, keys, strict=True) if key is not None]
        again = any(stale)
        for name, result, version, before, (_, blob, _) in zip(
            names, results, versions, started, _triples(blobs), strict=True
        ):
            if isinstance(result, list):  # what Redis holds now
                cache.put(name, int(result[1]), result[2] or None)
            elif int(result) == 0:  # applied already: its record after it is Redis's
                cache.drop([name])
            elif again:  # written, but the event is computed again from where it started
                cache.put(name, version, before)
            else:
                cache.put(name, version + 1 if blob != "" else version, blob or before)
        cache.returned()
        if again:
            raise StateConflict(
                f"transaction {transaction_id!r}: another process changed one of its entities "
                f"while it was computed; the entities it wrote keep it, the others are computed "
                f"again"
            )

    @contextmanager
    def _translated(self) -> Iterator[None]:
        with _translated(self.prefix):
            yield


def _decode(spec: SpaceSpec, blob: Any) -> Any:
    decode = spec.decode
    assert decode is not None
    return decode(blob)


def _triples(flat: list[Any]) -> Iterator[tuple[Any, Any, Any]]:
    """(version, record, TTL) of each record, from their flat list of arguments."""
    it = iter(flat)
    return zip(it, it, it, strict=True)


@contextmanager
def _translated(where: str) -> Iterator[None]:
    """Redis and socket errors -> ``StateUnavailable``, once, here."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StateUnavailable(f"feature state in Redis ({where}) unavailable: {exc}") from exc
