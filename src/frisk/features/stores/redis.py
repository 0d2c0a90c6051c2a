"""Feature state in Redis (or Valkey, or a Redis Cluster), shared by every process of a service.

Install with the ``[redis]`` extra (redis-py and hiredis). Keys, under a prefix (``frisk`` by
default), with a hash tag per entity so that every key one script touches lives in one slot:

    <prefix>:{key:payer:p-1}          the entity's journal (a hash, see ``journal.lua``): a
                                      snapshot of its record, its version, the changes after it
    <prefix>:{key:payer:p-1}:tx       a cluster: the last 256 transaction ids applied to the entity
    <prefix>:{meta}:layout            the format and catalogue version this state was kept for
    <prefix>:{meta}:clock             the latest event time committed (µs)
    <prefix>:{meta}:pending / :seq    labels waiting for their arrival time, in queueing order
    <prefix>:{meta}:head              the earliest arrival time queued (none: no label queued)
    <prefix>:{meta}:labels            the label sequence: raised by every label appended
    <prefix>:{txn:t-1}                a transaction's claim: its time and label keys (TTL: horizon);
                                      one Redis: the mark that it was applied ("1" and a day's
                                      TTL when no claims are kept)

An entity's state is a journal of its changes, not a record to overwrite: per event, one script
(``event.lua``), one round trip, appends the event (its fields, as JSON, and the time it is
processed at) to the journal of every entity it touches, moves the clock, marks the transaction
applied, and answers with what this process lacks of each record: the changes since the version
it holds (``redis_cache``), or the snapshot and the changes after it. The process applies them
to its copies with the executor's own ``replay`` and computes the event on the result. So
writers never refuse each other: a payee that thousands of payments a second reach from several
processes costs each of them the changes the others made (an event's worth of work each), never
a second round trip or a second computation, and the bytes sent per event stay the size of an
event, however long the entity's history. A process that brings a record ``SNAPSHOT_EVERY``
changes past its snapshot (more for a large record: one change per ``SNAPSHOT_BYTES`` of its
encoding, so that encoding snapshots costs about that many bytes per event however large the
record grows) sends it as the new snapshot, with its next event (the same script call);
the changes it covers are dropped, so a journal stays short whether or not any process keeps the
record cached.

The script applies a transaction once (a retried event changes nothing). Labels are queued
(``queue.lua``); the labels queued by any process that arrive before an event are taken from the
queue and appended to their label records' journals by that event's script, before it reads them:
an event with labels due costs no second round trip, and no label is taken from the queue
without being applied. ``read`` (``peek``) reads journals afresh. Records expire by TTL, their
space's lifetime after their last change.

A Redis Cluster spreads an event's keys over slots: each entity's part is its own script
(``entity.lua``: the transaction id is kept per entity), all sent at once with the clock's
script from a small thread pool (redis-py pipelines no scripts on a cluster): one round trip's
wait. An event is processed at its own time or the clock as this process last saw it, and the
label queue is not checked with the journals there (the executor applies the labels due,
``due.lua``, then ``label.lua`` per label): on a cluster, run one writer per key prefix for
order across processes. A retry after some entities took the event completes the others.

Every driver error is translated here, once, into ``StateUnavailable``, within the configured
timeouts. redis-py's own retries are off: a request that timed out may have run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from importlib.resources import files
from typing import Any, Final

import orjson
from redis.exceptions import NoScriptError, RedisError

from frisk.errors import ClaimHeld, ConfigError, FeatureError, StateUnavailable
from frisk.features.state import (
    EVENT_CLAIM,
    NEVER,
    DueLabel,
    Found,
    SpaceSpec,
    StateLayout,
)
from frisk.features.stores.redis_cache import Held, RecordCache
from frisk.features.stores.redis_client import HotConnection, open_client

__all__ = ["REDIS_FORMAT", "SNAPSHOT_BYTES", "SNAPSHOT_EVERY", "RedisStore"]

#: the layout of the keys above; state of another format is refused, never read
# 2: one applied marker per transaction on a single Redis; 3: records written by orjson;
# 4: journals of changes with snapshots; 5: the label sequence (a process of format 4 would
# append labels without raising it, and format-5 processes would not read them)
REDIS_FORMAT: Final = 5
#: a process sends its copy of a record as the new snapshot once it is this many changes past
#: the snapshot (a journal holds about this many changes; a snapshot costs one encoding) ...
SNAPSHOT_EVERY: Final = 16
#: ... or, for a record whose encoding is larger than SNAPSHOT_EVERY times this, one change per
#: this many bytes of it: a hot payee whose exact windows hold thousands of events is encoded
#: every few hundred changes, not every 16 (its journal then holds about a tenth of its bytes)
SNAPSHOT_BYTES: Final = 1024
#: transaction ids kept per entity to refuse a second application of one transaction
KEEP_TRANSACTIONS: Final = 256
#: how long (ms) one Redis remembers that a transaction was applied (a retry within it is a no-op)
APPLIED_MS: Final = 24 * 3_600_000
#: how long (ms) a key outlives its record's lifetime (TTLs run on the wall clock, records
#: expire in event time: the grace keeps a record read just before its TTL from vanishing)
GRACE_MS: Final = 3_600_000
#: records cached per process by default (about 1 KB each in Python)
DEFAULT_CACHE_SIZE: Final = 50_000


def _script(name: str) -> str:
    return files("frisk.features.stores").joinpath(name).read_text(encoding="utf-8")


def _with_journal(name: str) -> str:
    """A script with ``take`` (``journal.lua``) before it."""
    return _script("journal.lua") + "\n" + _script(name)


def _event_script(plan: bytes) -> str:
    """``event.lua`` with a layout's label plan (JSON) as the Lua string ``LABEL_PLAN``."""
    text = plan.decode()
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    quote = "=" * level
    return f"local LABEL_PLAN = [{quote}[{text}]{quote}]\n" + _with_journal("event.lua")


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
        # one Redis: each event's script goes on a connection kept for it
        self._hot = HotConnection(client)
        self.prefix = key_prefix
        self.cluster = cluster
        self._meta = f"{key_prefix}:{{meta}}"
        # the label queue, its sequence, its head; the clock, the queue's head, the label sequence
        self._queue_keys = [f"{self._meta}:pending", f"{self._meta}:seq", f"{self._meta}:head"]
        self._meta_keys = [f"{self._meta}:clock", f"{self._meta}:head", f"{self._meta}:labels"]
        self._clock: int | None = None
        self._next = NEVER
        self._layout: StateLayout | None = None
        self._specs: tuple[SpaceSpec, ...] = ()
        # per space: the TTL (ms) a change sets, its lifetime with a grace and 1/64 of that; a
        # process sets a key's TTL again once 1/128 of it has passed since it last did (s)
        self._ttls: list[int] = []
        self._renew: list[float] = []
        self._fields: tuple[str, ...] = ()  # the event fields an entity's change carries
        self._senders: ThreadPoolExecutor | None = None  # cluster mode: concurrent scripts
        # The records this process last had, at their versions: an event sends those versions
        # and receives only the changes after them.
        self._cache = RecordCache(cache_size) if cache_size > 0 else None
        # The event begun and not yet committed: per space its key (None: none), the version
        # its record is at once the event is in, its snapshot's version, whether the record
        # handed out may be cached at ``commit`` (not when the journal held the event already:
        # the executor applies it to the record again), the size of its last encoding, and when
        # this process last set its TTL.
        self._started: list[tuple[str, int, int, bool, int, float] | None] = []
        # One Redis: the label sequence (raised by every label appended, ``label.lua``) as this
        # process last saw it. A label record this process brought up to date at that sequence
        # is still current (no label reached any record since): the script skips reading it.
        self._seen: int | None = None
        #: changes of other processes (or of records this one did not hold) applied here
        self.replayed = 0
        # Snapshots to send with the next event: (key, version, encoded record, TTL ms).
        self._snapshots: list[tuple[str, int, bytes, int]] = []
        with self._translated():
            self._event = client.register_script(_event_script(b"[]"))  # see ``open``
            self._entity = client.register_script(_with_journal("entity.lua"))
            self._label = client.register_script(_with_journal("label.lua"))
            self._move_clock = client.register_script(_script("clock.lua"))
            self._queue = client.register_script(_script("queue.lua"))
            self._due = client.register_script(_script("due.lua"))

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
        # No silent retries (see ``redis_client``): a failure is StateUnavailable; the caller
        # decides.
        with _translated(url):
            client = open_client(
                url,
                cluster=cluster,
                connect_timeout=connect_timeout,
                timeout=timeout,
                pool_size=pool_size,
            )
            client.ping()
        return cls(client, key_prefix=key_prefix, cluster=cluster, cache_size=cache_size)

    # -- StateStore ------------------------------------------------------------------------

    @property
    def clock(self) -> int | None:
        return self._clock

    @property
    def takes_event_claims(self) -> bool:
        """Whether ``begin`` takes an ``EVENT_CLAIM`` with the event (one Redis, not a cluster)."""
        return not self.cluster

    @property
    def next_label_at(self) -> int:
        """On one Redis, ``NEVER``: each event's script applies the labels due before it
        itself; on a cluster, the earliest queued label's arrival time as last seen."""
        return self._next if self.cluster else NEVER

    def open(self, layout: StateLayout) -> None:
        for spec in layout.spaces:
            if spec.encode is None or spec.decode is None or spec.replay is None:
                raise FeatureError(
                    f"space {spec.name!r} has no codec or replay: Redis cannot keep it"
                )
        want = json.dumps({"format": REDIS_FORMAT, "catalogue_version": layout.catalogue_version})
        with self._translated():
            self.client.set(f"{self._meta}:layout", want, nx=True)
            found = self.client.get(f"{self._meta}:layout")
            pipe = self.client.pipeline(transaction=False)
            pipe.get(f"{self._meta}:clock")
            pipe.zrange(f"{self._meta}:pending", 0, 0, withscores=True)
            pipe.get(self._queue_keys[2])
            clock, head, kept = pipe.execute()
            if not self.cluster and _text(kept or "") != (str(int(head[0][1])) if head else ""):
                # the queue's head key lost (evicted, deleted): event.lua reads only that key
                # to know whether a label is due, so set it again from the queue
                if head:
                    self.client.set(self._queue_keys[2], str(int(head[0][1])))
                else:
                    self.client.delete(self._queue_keys[2])
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
        lifetimes = [spec.lifetime // 1000 + GRACE_MS for spec in layout.spaces]
        self._ttls = [ms + ms // 64 for ms in lifetimes]
        self._renew = [ms / 128 / 1000 for ms in lifetimes]
        self._fields = layout.event_fields
        # what event.lua needs to apply the labels due itself (see apply_due there), compiled
        # into the script: no event sends it
        plan = orjson.dumps(
            [
                self._queue_keys[0],
                layout.label_horizon,
                self._claim_key("")[:-1],
                *(
                    [self._key(spec, "")[:-1], ttl]
                    for spec, ttl in zip(layout.spaces, self._ttls, strict=True)
                    if spec.labels
                ),
            ]
        )
        self._event = self.client.register_script(_event_script(plan))
        if not self.cluster:
            with self._translated():
                self._load_scripts()
        if self._cache is not None:
            self._cache.clear()
        self._clock = None if clock is None else int(clock)
        self._next = int(head[0][1]) if head else NEVER
        self._seen = None

    def begin(
        self,
        transaction_id: str,
        t_event: int,
        keys: Sequence[str | None],
        event: Mapping[str, Any],
    ) -> tuple[int, Sequence[Any]]:
        layout = self._layout
        if layout is None:
            raise FeatureError("the state store is used before an executor opened it")
        specs = self._specs
        names = self._names(keys)
        present = [i for i, name in enumerate(names) if name is not None]
        taken = [name for name in names if name is not None]
        cache = self._cache
        held: list[Held | None] = cache.take(taken) if cache is not None else [None] * len(taken)
        # The event's change: the values its entities' replay reads, as ``step`` reads them, in
        # the order of the layout's ``event_fields``.
        change = orjson.dumps(
            [
                None if (v := event.get(f)) is None else float(v) if f == "amount" else str(v)
                for f in self._fields
            ]
        )
        parts: list[tuple[str, int, bool, int]] = []
        seen = self._seen
        current: list[bool] = []  # label records brought up to date at the sequence last seen
        renew: list[bool] = []  # records whose TTL this process has not set for a while
        now = time.monotonic()
        for i, h in zip(present, held, strict=True):
            name = names[i]
            assert name is not None
            appends = not specs[i].labels
            parts.append((name, -1 if h is None else h[0], appends, self._ttls[i]))
            current.append(h is not None and seen is not None and h[4] == seen)
            renew.append(appends and (h is None or now - h[5] >= self._renew[i]))
        clock = self._clock
        t = t_event if clock is None or t_event > clock else clock
        claim = None
        if layout.remember:
            labels = [key for spec, key in zip(specs, keys, strict=True) if spec.labels]
            if labels:
                claim = json.dumps(labels)[1:-1]
        if self.cluster:
            t, answers, applied = self._begin_cluster(transaction_id, t, parts, change, claim)
        else:
            t, answers, applied = self._begin_one(
                transaction_id, t_event, parts, current, renew, change, claim
            )
        records: list[Any] = [None] * len(specs)
        started: list[tuple[str, int, int, bool, int, float] | None] = [None] * len(specs)
        for j, i in enumerate(present):
            spec = specs[i]
            name, _, appends, _ = parts[j]
            version, snapshot, record, size, _, expiry_set = self._bring(spec, held[j], answers[j])
            records[i] = record
            fresh = appends and applied[j]
            after = version + 1 if fresh else version
            if fresh and (renew[j] or self.cluster):
                expiry_set = now
            started[i] = (name, after, snapshot, fresh or not appends, size, expiry_set)
        self._started = started
        return t, records

    def read(self, keys: Sequence[str | None]) -> Sequence[Any]:
        """The records of ``keys`` as the journals hold them now (snapshot and changes), in one
        pipelined round trip that reads the clock and the label queue's head too."""
        specs = self._specs
        names = self._names(keys)
        with self._translated():
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                if name is not None:
                    pipe.hgetall(name)
            pipe.get(f"{self._meta}:clock")
            pipe.zrange(f"{self._meta}:pending", 0, 0, withscores=True)
            replies = pipe.execute()
        records: list[Any] = [None] * len(specs)
        present = [i for i, name in enumerate(names) if name is not None]
        for i, found in zip(present, replies, strict=False):
            journal = {_text(k): v for k, v in found.items()}
            version, snapshot = int(journal.get("v", 0)), int(journal.get("sv", 0))
            answer = [version, snapshot, journal.get("s", b"")]
            answer += [journal.get(str(n), b"") for n in range(snapshot + 1, version + 1)]
            records[i] = self._bring(specs[i], None, answer)[2]
        clock, head = replies[-2], replies[-1]
        self._clock = None if clock is None else int(clock)
        self._next = int(head[0][1]) if head else NEVER
        return records

    def commit(
        self, transaction_id: str, t: int, keys: Sequence[str | None], records: Sequence[Any]
    ) -> None:
        cache = self._cache
        for spec, started, record, ttl in zip(
            self._specs, self._started, records, self._ttls, strict=True
        ):
            if started is None:
                continue
            name, version, snapshot, keep, size, expiry_set = started
            seen = self._seen if spec.labels and self._seen is not None else -1
            if not keep:
                if cache is not None:
                    cache.drop([name])
                continue
            every = max(SNAPSHOT_EVERY, size // SNAPSHOT_BYTES)
            if version - snapshot >= every and record is not None:
                encode = spec.encode
                assert encode is not None
                blob = encode(record)
                self._snapshots.append((name, version, blob, ttl))
                snapshot, size = version, len(blob)
            if cache is not None:
                cache.put(name, version, snapshot, record, size, seen, expiry_set)
        if cache is not None:
            cache.returned()
        self._started = []
        if self._clock is None or t > self._clock:
            self._clock = t

    def label(self, at: int, keys: Sequence[str | None], change: Any) -> None:
        entry = f"{at} ".encode() + orjson.dumps(list(change))
        names, ttls = [], []
        for spec, key, ttl in zip(self._specs, keys, self._ttls, strict=True):
            if key is not None:
                names.append(self._key(spec, key))
                ttls.append(ttl)
        if not names:
            return
        with self._translated():
            if not self.cluster:
                self._label(keys=[*names, f"{self._meta}:labels"], args=[entry, *ttls])
                return
            body = orjson.dumps(list(change))
            jobs: list[Callable[[], Any]] = [
                partial(
                    self._entity,
                    keys=[name, name + ":tx"],
                    args=_entity_args("", at, -2, True, ttl, change=body),
                )
                for name, ttl in zip(names, ttls, strict=True)
            ]
            list(self._pool().map(lambda job: job(), jobs))

    def queue_label(self, at: int, transaction_id: str, label: int, found: Found | None) -> None:
        body = json.dumps([at, transaction_id, label, None if found is None else list(found)])
        with self._translated():
            self._queue(keys=self._queue_keys, args=[str(at), body])
        self._next = min(self._next, at)

    def due_labels(self, t: int) -> list[DueLabel]:
        with self._translated():
            head, *members = self._due(
                keys=[self._queue_keys[0], self._queue_keys[2]], args=[str(t)]
            )
        self._next = int(head) if head else NEVER
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
                    held = None if value is None else json.loads(value)
                    if isinstance(held, list):  # (one Redis: "1" marks a transaction applied)
                        claims[txn] = tuple(held)
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
            self._hot.close()
            self.client.close()

    # -- internals -------------------------------------------------------------------------

    def _key(self, spec: SpaceSpec, key: str | None) -> str:
        return f"{self.prefix}:{{{spec.name}:{key}}}"

    def _names(self, keys: Sequence[str | None]) -> list[str | None]:
        """The Redis key of each space's key (None where the event has none)."""
        return [
            None if key is None else self._key(spec, key)
            for spec, key in zip(self._specs, keys, strict=True)
        ]

    def _claim_key(self, transaction_id: str) -> str:
        return f"{self.prefix}:{{txn:{transaction_id}}}"

    def _scan(self) -> Iterator[Any]:
        pattern = f"{self.prefix}:*"
        if self.cluster:
            for node in self.client.get_primaries():
                yield from self.client.scan_iter(match=pattern, count=1000, target_nodes=node)
        else:
            yield from self.client.scan_iter(match=pattern, count=1000)

    def _begin_one(
        self,
        transaction_id: str,
        t_event: int,
        parts: list[tuple[str, int, bool, int]],
        current: list[bool],
        renew: list[bool],
        change: bytes,
        claim: str | None,
    ) -> tuple[int, list[list[Any]], list[bool]]:
        """``event.lua`` on one Redis (with the snapshots waiting): the time the event is
        processed at, each record's answer, and whether the event was appended (False: the
        journals held it already)."""
        layout = self._layout
        assert layout is not None
        # the records the event is appended to first, then those it only reads
        appended = [j for j, part in enumerate(parts) if part[2]]
        reads = [j for j, part in enumerate(parts) if not part[2]]
        # Label records all brought up to date at the label sequence this process last saw go
        # as one argument, read only if the sequence moved since (the common event: not).
        lazy = bool(reads) and self._seen is not None and all(current[j] for j in reads)
        order = appended if lazy else appended + reads
        seen = "" if self._seen is None else str(self._seen)
        decider = EVENT_CLAIM.get()
        if decider is not None and decider.transaction_id != transaction_id:
            decider = None

        def request(snapshots: list[tuple[str, int, bytes, int]]) -> tuple[list[Any], list[Any]]:
            keys_out = [parts[j][0] for j in order]
            keys_out += [snapshot[0] for snapshot in snapshots]
            keys_out += [self._meta_keys[0], self._claim_key(transaction_id), *self._meta_keys[1:]]
            # the transaction's key: its claim (kept for the label horizon), or only its mark
            ttl_ms = APPLIED_MS if claim is None else layout.label_horizon // 1000
            args_out: list[Any] = [
                transaction_id,
                str(t_event),
                len(appended),
                len(order) - len(appended),
            ]
            args_out += [ttl_ms, claim or "", change, len(snapshots)]
            args_out.append(seen)
            args_out.append(
                orjson.dumps([[parts[j][0], str(parts[j][1])] for j in reads]) if lazy else ""
            )
            for j in order:
                _, known, appends, ttl = parts[j]
                if appends:
                    following = "" if known < 0 else known + 1
                    args_out += [known, following, ttl, "1" if renew[j] else "0"]
                else:
                    args_out += [known, "2" if current[j] else "0"]
            for _, version, blob, ttl in snapshots:
                args_out += [version, blob, ttl]
            if decider is not None:  # the decider's claim, taken in this call
                keys_out.append(decider.key)
                args_out += [decider.owner, decider.ms]
            return keys_out, args_out

        snapshots, self._snapshots = self._snapshots, []
        with self._translated():
            reply = self._send_one(*request(snapshots))
            while int(reply[0]) == 3:  # a backlog of labels due: the script applies a share a call
                reply = self._send_one(*request([]))  # (the snapshots are in)
        status = int(reply[0])
        if status == 2:  # nothing written: the snapshots wait for the next event
            self._snapshots = snapshots + self._snapshots
            if self._cache is not None:
                self._cache.returned()
            raise ClaimHeld(f"transaction {transaction_id!r} is claimed by another process")
        if decider is not None:
            decider.taken = True
        at = reply[1]
        self._seen = int(reply[3])
        t = int(at)
        if self._clock is None or t > self._clock:
            self._clock = t
        answers: list[Any] = [None] * len(parts)
        if lazy:
            if _text(reply[3]) == seen:  # no label since: the label records held are current
                for j in reads:
                    answers[j] = parts[j][1]
            else:  # the script read them, after the others
                order = appended + reads
        for j, answer in zip(order, reply[4:], strict=True):
            answers[j] = answer
        return t, answers, [status == 1] * len(parts)

    def _begin_cluster(
        self,
        transaction_id: str,
        t: int,
        parts: list[tuple[str, int, bool, int]],
        change: bytes,
        claim: str | None,
    ) -> tuple[int, list[list[Any]], list[bool]]:
        """On a cluster an event's keys span slots: one script per entity (``entity.lua``), each
        atomic, all sent at once from a small thread pool (redis-py pipelines no scripts on a
        cluster), with the clock's script: one round trip's wait. An entity that took the
        event already (a retry after a partial failure) answers so and takes nothing."""
        layout = self._layout
        assert layout is not None
        jobs: list[Callable[[], Any]] = [
            partial(
                self._entity,
                keys=[name, name + ":tx"],
                args=_entity_args(transaction_id, t, known, appends, ttl, change=change),
            )
            for name, known, appends, ttl in parts
        ]
        meta = [f"{self._meta}:clock", f"{self._meta}:pending"]
        jobs.append(partial(self._move_clock, keys=meta, args=[str(t)]))
        if claim is not None:
            horizon = layout.label_horizon // 1000
            body = f"[{t},{claim}]"
            jobs.append(partial(self.client.set, self._claim_key(transaction_id), body, px=horizon))
        snapshots, self._snapshots = self._snapshots, []
        jobs += [
            partial(self._entity, keys=[name, name + ":tx"], args=_snapshot_args(v, blob, ttl))
            for name, v, blob, ttl in snapshots
        ]
        with self._translated():
            replies = list(self._pool().map(lambda job: job(), jobs))
        clock, head = replies[len(parts)]
        self._clock = int(clock)
        self._next = int(head) if head else NEVER
        answers = replies[: len(parts)]
        return t, [a[1:] for a in answers], [int(a[0]) == 1 for a in answers]

    def _send_one(self, keys: list[str], args: list[Any]) -> Any:
        """``event.lua``'s answer (the snapshots waiting go in the same call).

        EVALSHA by hand: a Script object would first ask SCRIPT EXISTS (a round trip). The
        scripts are loaded when the store opens; a server that lost them since answers NOSCRIPT
        (the script did not run), and the Script loads it and sends the event again, once.
        """
        try:
            return self._hot.call("EVALSHA", self._event.sha, len(keys), *keys, *args)
        except NoScriptError:
            self._load_scripts()
            return self._event(keys=keys, args=args)

    def _load_scripts(self) -> None:
        """Load every script into the server (one Redis), so that none answers NOSCRIPT."""
        for script in (self._event, self._entity, self._label):
            self.client.script_load(script.script)

    def _bring(self, spec: SpaceSpec, held: Held | None, answer: Any) -> Held:
        """A record brought up to date by a script's answer (see ``journal.lua``): the held
        copy as it is (the answer is its version alone), the held copy and the changes after
        it, or the snapshot and the changes after that; with the size of the last encoding of
        it seen."""
        if not isinstance(answer, list):  # the version this process holds: it lacks nothing
            assert held is not None
            return int(answer), held[1], held[2], held[3], -1, held[5]
        version, snapshot, blob = int(answer[0]), int(answer[1]), answer[2]
        if snapshot < 0:  # the changes after the held copy
            assert held is not None
            snapshot, record, size, expiry_set = held[1], held[2], held[3], held[5]
        else:
            decode = spec.decode
            assert decode is not None
            record, size = (decode(blob), len(blob)) if blob else (None, 0)
            expiry_set = 0.0 if held is None else held[5]
        replay = spec.replay
        assert replay is not None
        self.replayed += len(answer) - 3
        fields, labels = self._fields, spec.labels
        for change in answer[3:]:
            raw = change if isinstance(change, bytes) else str(change).encode()
            at, _, body = raw.partition(b" ")
            values = orjson.loads(body)
            # an event's values by field (an entity's change), or (label, transaction time)
            loaded = tuple(values) if labels else dict(zip(fields, values, strict=True))
            record = replay(record, int(at), loaded)
        return version, snapshot, record, size, -1, expiry_set

    def _pool(self) -> ThreadPoolExecutor:
        if self._senders is None:
            self._senders = ThreadPoolExecutor(max_workers=16, thread_name_prefix="frisk-state")
        return self._senders

    @contextmanager
    def _translated(self) -> Iterator[None]:
        with _translated(self.prefix):
            yield


def _entity_args(
    transaction_id: str,
    t: int,
    known: int,
    appends: bool,
    ttl: int,
    *,
    change: bytes = b"",
    snapshot: tuple[int, bytes] = (0, b""),
) -> list[Any]:
    """``entity.lua``'s arguments (see the script): the change to append (with ``appends``),
    the version this process holds (-2: answer nothing), a snapshot to store (version 0:
    none)."""
    version, blob = snapshot
    return [
        transaction_id,
        t,
        known,
        "1" if appends else "0",
        ttl,
        version,
        blob,
        KEEP_TRANSACTIONS,
        change,
    ]


def _snapshot_args(version: int, blob: bytes, ttl: int) -> list[Any]:
    """``entity.lua``'s arguments storing a snapshot, and nothing else."""
    return _entity_args("", 0, -2, False, ttl, snapshot=(version, blob))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def _translated(where: str) -> Iterator[None]:
    """Redis and socket errors -> ``StateUnavailable``, once, here."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StateUnavailable(f"feature state in Redis ({where}) unavailable: {exc}") from exc
