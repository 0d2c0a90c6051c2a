"""The SQL ledger: one implementation for SQLite and PostgreSQL through SQLAlchemy Core.

Decisions are written on the scoring path, so their insert skips SQLAlchemy's per-row work: one
driver-level statement built once, rows encoded here (the features and the rest of the payload
packed: ``feature_codec``, ``decision_codec``), many rows per transaction
(``record_decisions``). Through the ``Table`` with its JSON types, ``json.dumps`` of ~90 features
and the bind processing cost ~2.5x the CPU of the insert itself. Everything else goes through
the tables, where clarity matters more than microseconds.
"""

from __future__ import annotations

import functools
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, RowMapping

from frisk.errors import NotFoundError, RecordRefusedError, StoreError
from frisk.schema import Role
from frisk.store._driver_errors import translate_errors
from frisk.store.database import _SQLITE_BUSY_MS, _sqlite_pragmas, make_engine
from frisk.store.decision_codec import pack_record
from frisk.store.decision_pages import decision_pages
from frisk.store.decision_rows import payload_columns, unpack_payload
from frisk.store.feature_catalogues import FeatureCatalogues, catalogues_of, feature_columns
from frisk.store.label_writes import write_labels
from frisk.store.migrate import upgrade
from frisk.store.records import (
    JSON,
    ApiKeyRecord,
    AuditEntry,
    DecisionRecord,
    LabelChange,
    LabelOutcome,
    LabelRecord,
    LabelWrite,
    ShadowDecision,
)
from frisk.store.tables import (
    ALERT,
    api_keys,
    audit_log,
    decision_ids,
    decisions,
    label_history,
    labels,
    shadow_decisions,
)

if TYPE_CHECKING:
    from frisk.store.archive import ArchiveResult
    from frisk.store.ledger import (
        Ledger,
        LedgerLists,
        LedgerRules,
        MonitoringReads,
        ReviewQueue,
    )
    from frisk.store.postgres import StoreTimeouts
    from frisk.store.stats import TableStats

__all__ = ["SqlLedger", "open_ledger"]


def open_ledger(
    url: str, *, migrate: bool = True, timeouts: StoreTimeouts | None = None
) -> SqlLedger:
    """Connect to the ledger at ``url`` and, unless told not to, bring its schema up to date
    (on PostgreSQL, with the partitions of ``decisions`` for the coming days).

    ``timeouts`` bound every wait on a PostgreSQL ledger (``store.postgres``); the migration runs
    on a connection of its own without a statement bound.
    """
    engine = make_engine(url, timeouts=timeouts)
    if migrate:
        if timeouts is not None and engine.dialect.name == "postgresql":
            unbounded = make_engine(url)
            try:
                upgrade(unbounded)
                _ensure_partitions(unbounded)
            finally:
                unbounded.dispose()
        else:
            upgrade(engine)
            _ensure_partitions(engine)
    return SqlLedger(engine)


def _ensure_partitions(engine: Engine, today: date | None = None) -> list[date]:
    """PostgreSQL: the coming days' partitions of ``decisions`` (``store.partitions``); the days
    created. Nothing on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    from frisk.store.partitions import ensure_partitions

    with translate_errors("creating the ledger's partitions"):
        return ensure_partitions(engine, today=today)


class SqlLedger:
    """A ``Ledger`` on any database SQLAlchemy speaks to that has ``INSERT ... ON CONFLICT``.

    Its sub-stores (``rules``, ``lists``, ``reviews``, ``monitoring``) share its engine; each is
    built on first use, so that commands which never touch the policy do not import it.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine.dialect.name == "postgresql":
            self._insert: Any = postgresql.insert
        elif engine.dialect.name == "sqlite":
            self._insert = sqlite.insert
        else:  # make_engine refuses others; this guards engines built by hand
            raise ValueError(f"unsupported database {engine.dialect.name!r}")
        self._sqlite = engine.dialect.name == "sqlite"
        #: True when ``has_decision`` is a local file read (microseconds, never hangs): callers on
        #: an event loop may then ask it there rather than from a thread
        self.fast_lookups = self._sqlite
        self._insert_sql = _decision_insert_sql(True)  # SQLite's row-by-row fallback
        # PostgreSQL: a batch of new decisions is one statement in autocommit, sent on a pooled
        # connection's driver connection (``_record_postgres``, ``postgres.driver_autocommit``).
        self._driver: Callable[[], AbstractContextManager[Any]] | None = None
        if not self._sqlite:
            from frisk.store.postgres import driver_autocommit

            self._driver = functools.partial(driver_autocommit, engine)
        self._probe = _IdProbe(engine)
        self._writer = _SqliteWriter(engine.url.database) if self._sqlite else None
        self._on_close: list[Callable[[], object]] = []
        self._catalogues = catalogues_of(engine)

    # Sub-stores

    @functools.cached_property
    def rules(self) -> LedgerRules:
        from frisk.store.rules import SqlRuleStore

        return SqlRuleStore(self.engine)

    @functools.cached_property
    def lists(self) -> LedgerLists:
        from frisk.store.lists import SqlListStore

        return SqlListStore(self.engine)

    @functools.cached_property
    def reviews(self) -> ReviewQueue:
        from frisk.store.reviews import ReviewStore

        return ReviewStore(self.engine)

    @functools.cached_property
    def monitoring(self) -> MonitoringReads:
        from frisk.store.monitoring import SqlMonitoringReads

        return SqlMonitoringReads(self.engine)

    def policy_versions(self) -> dict[str, int]:
        from frisk.store._versioned import versions

        return versions(self.engine)

    # Decisions

    def record_decision(self, decision: DecisionRecord) -> DecisionRecord:
        return self.record_decisions([decision])[0]

    def record_decisions(self, records: Sequence[DecisionRecord]) -> list[DecisionRecord]:
        if not records:
            return []
        doing = (
            f"recording decision {records[0].transaction_id!r}"
            if len(records) == 1
            else f"recording {len(records)} decisions"
        )
        try:
            rows = [_encode_decision(d, self._sqlite, self._catalogues) for d in records]
        except (TypeError, ValueError) as exc:  # orjson: a value JSON cannot hold
            raise RecordRefusedError(f"{doing}: cannot encode it ({exc})") from exc
        if not self._sqlite:
            return self._record_postgres(records, rows, doing)
        if self._writer is not None:
            with translate_errors(doing):
                if self._writer.insert(rows) == len(rows):
                    return list(records)
            # Some ids were recorded before (rolled back): learn which below.
        with translate_errors(doing), self.engine.connect() as conn:
            with conn.begin() as transaction:
                if self._insert_rows(conn, rows) == len(rows):
                    return list(records)
                # Some ids were recorded before (a retry racing its first attempt, or another
                # process). Rare: undo, and insert row by row to learn which rows are ours.
                transaction.rollback()
            with conn.begin():
                ours = [conn.exec_driver_sql(self._insert_sql, row).rowcount == 1 for row in rows]
                pairs = list(zip(records, ours, strict=True))
                theirs = [d.transaction_id for d, mine in pairs if not mine]
                query = sa.select(decisions).where(decisions.c.transaction_id.in_(theirs))
                stored = {r.transaction_id: self._decision(r._mapping) for r in conn.execute(query)}
        return [d if mine else stored[d.transaction_id] for d, mine in pairs]

    def _insert_rows(self, conn: Connection, rows: list[tuple[Any, ...]]) -> int:
        """SQLite: insert what is new of ``rows``; the number inserted.

        Many rows per statement: ``executemany`` steps the statement once per row and Python's
        driver lets go of the GIL at every step. Under load the service's scoring thread holds
        it, so the writer waited for it once per row, and every request in the batch waited for
        the writer.
        """
        inserts = _sqlite_inserts(rows)
        return sum(conn.exec_driver_sql(sql, params).rowcount for sql, params in inserts)

    def _record_postgres(
        self, records: Sequence[DecisionRecord], rows: list[tuple[Any, ...]], doing: str
    ) -> list[DecisionRecord]:
        """PostgreSQL's ``record_decisions``: the rows in one multi-row INSERT ... RETURNING
        the ids it inserted, sent in autocommit on a pooled connection's driver connection
        (``postgres.driver_autocommit``: SQLAlchemy's ``Connection`` cost ~100 µs of the
        client's CPU a call more).

        One statement is one transaction, committed (flushed, with ``synchronous_commit``)
        before its answer: one round trip, where BEGIN, ``executemany`` and COMMIT were three,
        and the executor, the partition routing and its check set up once for the batch instead
        of once a row (``benchmarks.ab_ledger_postgres``: the backends' CPU a decision -14 %
        at ~1 decision a commit; docs/BENCHMARKS.md, #16). More rows than one statement takes
        go in one transaction of several. The ids returned tell ours from those recorded
        before (the ``decision_ids`` trigger skips a row whose id is there, and an insert that
        met a concurrent writer of its id waited for it to commit), so nothing is rolled back
        and sent again.
        """
        with translate_errors(doing):
            if len(rows) <= _POSTGRES_ROWS_PER_INSERT:
                assert self._driver is not None
                sql = _decision_insert_sql(False, len(rows))
                with self._driver() as driver:
                    returned = driver.execute(sql, tuple(chain.from_iterable(rows))).fetchall()
                new = [r[0] for r in returned]
                if len(new) == len(rows):
                    return list(records)
                with self.engine.connect() as conn:
                    return self._with_stored(conn, records, new)
            with self.engine.connect() as conn, conn.begin():
                new = [
                    i
                    for start in range(0, len(rows), _POSTGRES_ROWS_PER_INSERT)
                    for i in _postgres_insert(conn, rows[start : start + _POSTGRES_ROWS_PER_INSERT])
                ]
                if len(new) == len(rows):
                    return list(records)
                return self._with_stored(conn, records, new)

    def _with_stored(
        self, conn: Connection, records: Sequence[DecisionRecord], new: list[str]
    ) -> list[DecisionRecord]:
        """Each of ``records`` if its row was inserted (the first of an id given twice), else
        the row recorded under its id."""
        inserted = set(new)
        ours = []
        for d in records:
            ours.append(d.transaction_id in inserted)
            inserted.discard(d.transaction_id)
        pairs = list(zip(records, ours, strict=True))
        theirs = [d.transaction_id for d, mine in pairs if not mine]
        query = sa.select(decisions).where(decisions.c.transaction_id.in_(theirs))
        stored = {r.transaction_id: self._decision(r._mapping) for r in conn.execute(query)}
        return [d if mine else stored[d.transaction_id] for d, mine in pairs]

    def get_decision(self, transaction_id: str) -> DecisionRecord | None:
        query = sa.select(decisions).where(decisions.c.transaction_id == transaction_id)
        if not self._sqlite:
            # The id's time first (one probe of ``decision_ids``): only its day's partition
            # is then read (``store.partitions``).
            at = sa.select(decision_ids.c.event_time).where(
                decision_ids.c.transaction_id == transaction_id
            )
            query = query.where(decisions.c.event_time == at.scalar_subquery())
        with translate_errors("reading a decision"), self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else self._decision(row._mapping)

    def has_decision(self, transaction_id: str) -> bool:
        with translate_errors("looking a decision up"):
            return self._probe.has(transaction_id)

    def recent_decisions(
        self, limit: int = 50, *, before: datetime | None = None, action: str | None = None
    ) -> list[DecisionRecord]:
        query = sa.select(decisions).order_by(
            decisions.c.created_at.desc(), decisions.c.transaction_id.desc()
        )
        if before is not None:
            query = query.where(decisions.c.created_at < before)
        if action is not None:
            query = query.where(decisions.c.action == action)
            if action != "allow":  # the alerts' partial index may serve it (SQLite: when told)
                query = query.where(ALERT)
        with translate_errors("reading recent decisions"), self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [self._decision(row._mapping) for row in rows]

    def decisions_since(self, since: datetime, *, batch: int = 1000) -> Iterator[DecisionRecord]:
        # Keyset pages on (event_time, transaction_id): no long-lived cursor or transaction.
        for rows in decision_pages(
            self.engine,
            decisions.c.event_time >= since,
            batch=batch,
            doing="reading decisions to replay",
        ):
            for row in rows:
                yield self._decision(row._mapping)

    def decisions_with_labels(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        archive: Path | None = None,
    ) -> list[JSON]:
        live = self._decisions_with_labels(start, end)
        if archive is None:
            return live
        from frisk.store.archive import with_archived

        return with_archived(self.engine, live, archive, start=start, end=end)

    def _decisions_with_labels(self, start: datetime | None, end: datetime | None) -> list[JSON]:
        query = (
            sa.select(
                decisions.c.transaction_id,
                decisions.c.event_time,
                *payload_columns("transaction", "policy"),
                *feature_columns(),
                decisions.c.score,
                decisions.c.risk_score,
                decisions.c.tier,
                decisions.c.action,
                labels.c.label,
            )
            .select_from(
                decisions.outerjoin(labels, labels.c.transaction_id == decisions.c.transaction_id)
            )
            .order_by(decisions.c.event_time, decisions.c.transaction_id)
        )
        if start is not None:
            query = query.where(decisions.c.event_time >= start)
        if end is not None:
            query = query.where(decisions.c.event_time < end)
        out = []
        with translate_errors("reading decisions to backtest"), self.engine.connect() as conn:
            for row in conn.execute(query):
                item = unpack_payload(dict(row._mapping))
                item["features"] = self._catalogues.features(
                    item.pop("catalogue_id"), item.pop("feature_values"), item["features"]
                )
                out.append(item)
        return out

    def record_shadow_decisions(self, decisions: Sequence[ShadowDecision]) -> None:
        if not decisions:
            return
        rows = [
            {
                "transaction_id": d.transaction_id,
                "model_version": d.model_version,
                "score": float(d.score),
                "risk_score": int(d.risk_score),
                "tier": d.tier,
                "action": d.action,
                "created_at": d.created_at,
            }
            for d in decisions
        ]
        doing = f"recording {len(rows)} shadow decision(s)"
        with translate_errors(doing), self.engine.begin() as conn:
            conn.execute(self._insert(shadow_decisions).values(rows).on_conflict_do_nothing())

    def decision_counts(self, since: datetime) -> dict[str, int]:
        query = (
            sa.select(decisions.c.action, sa.func.count())
            .where(decisions.c.created_at >= since)
            .group_by(decisions.c.action)
        )
        with translate_errors("counting decisions"), self.engine.connect() as conn:
            return {action: int(count) for action, count in conn.execute(query).all()}

    # Labels

    def set_label(
        self,
        transaction_id: str,
        label: str,
        *,
        label_timestamp: datetime,
        source: str,
        actor: str,
    ) -> LabelRecord:
        write = LabelWrite(transaction_id, label, label_timestamp, source)
        return self.set_labels([write], actor=actor)[0].record

    def set_labels(self, writes: Sequence[LabelWrite], *, actor: str) -> list[LabelOutcome]:
        if not writes:
            return []
        doing = f"labelling {len(writes)} transaction(s)"
        with translate_errors(doing), self.engine.begin() as conn:
            return write_labels(conn, writes, actor=actor, at=datetime.now(UTC))

    def labels_changed_since(self, since: datetime | None) -> list[LabelRecord]:
        query = sa.select(labels).order_by(labels.c.updated_at, labels.c.transaction_id)
        if since is not None:
            query = query.where(labels.c.updated_at > since)
        with translate_errors("reading changed labels"), self.engine.connect() as conn:
            return [LabelRecord(**row._mapping) for row in conn.execute(query).all()]

    def get_label(self, transaction_id: str) -> LabelRecord | None:
        query = sa.select(labels).where(labels.c.transaction_id == transaction_id)
        with translate_errors("reading a label"), self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else LabelRecord(**row._mapping)

    def label_history(self, transaction_id: str) -> list[LabelChange]:
        query = (
            sa.select(label_history)
            .where(label_history.c.transaction_id == transaction_id)
            .order_by(label_history.c.id)
        )
        with translate_errors("reading label history"), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [LabelChange(**{k: v for k, v in row._mapping.items() if k != "id"}) for row in rows]

    # API keys

    def add_api_key(self, key: ApiKeyRecord) -> None:
        values = {
            "key_id": key.key_id,
            "key_hash": key.key_hash,
            "role": key.role.value,
            "name": key.name,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
            "rate_limit": key.rate_limit,
        }
        with translate_errors(f"adding API key {key.key_id!r}"), self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(values))

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        query = sa.select(api_keys).where(api_keys.c.key_id == key_id)
        with translate_errors("reading an API key"), self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else _api_key(row._mapping)

    def list_api_keys(self, *, include_revoked: bool = False) -> list[ApiKeyRecord]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with translate_errors("listing API keys"), self.engine.connect() as conn:
            return [_api_key(row._mapping) for row in conn.execute(query).all()]

    def revoke_api_key(self, key_id: str, at: datetime) -> ApiKeyRecord:
        with translate_errors(f"revoking API key {key_id!r}"), self.engine.begin() as conn:
            conn.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).one_or_none()
        if row is None:
            raise NotFoundError(f"API key {key_id!r} does not exist")
        return _api_key(row._mapping)

    # Audit

    def append_audit(self, entry: AuditEntry) -> None:
        values = {
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "before": entry.before,
            "after": entry.after,
            "at": entry.at,
        }
        with translate_errors(f"auditing {entry.action!r}"), self.engine.begin() as conn:
            conn.execute(audit_log.insert().values(values))

    def audit_log(
        self, *, target: str | None = None, limit: int = 100, before: int | None = None
    ) -> list[AuditEntry]:
        query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(audit_log.c.target == target)
        if before is not None:
            query = query.where(audit_log.c.id < before)
        with translate_errors("reading the audit log"), self.engine.connect() as conn:
            return [AuditEntry(**row._mapping) for row in conn.execute(query).all()]

    # Operations

    def ping(self) -> None:
        with translate_errors("pinging the ledger"), self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def on_close(self, callback: Callable[[], object]) -> None:
        self._on_close.append(callback)

    def stats(self) -> list[TableStats]:
        from frisk.store.stats import ledger_stats

        return ledger_stats(self.engine)

    def archive(
        self, before: datetime, to: Path, *, batch: int = 500, pause: float = 0.0
    ) -> ArchiveResult:
        from frisk.store.archive import archive_ledger

        return archive_ledger(self.engine, before, to, batch=batch, pause=pause)

    def ensure_partitions(self, today: date | None = None) -> list[date]:
        return _ensure_partitions(self.engine, today)

    def close(self) -> None:
        for callback in self._on_close:
            callback()
        self._on_close.clear()
        self._probe.close()
        if self._writer is not None:
            self._writer.close()
        self.engine.dispose()

    def _decision(self, row: RowMapping) -> DecisionRecord:
        values = unpack_payload(dict(row))
        features = self._catalogues.features(
            values.pop("catalogue_id"), values.pop("feature_values"), values.pop("features")
        )
        return DecisionRecord(**values, features=features)


if TYPE_CHECKING:

    def _is_a_ledger(ledger: SqlLedger) -> Ledger:  # mypy checks the Protocol is met
        return ledger


_DECISION_COLUMNS = (
    "transaction_id",
    "event_time",
    "score",
    "risk_score",
    "tier",
    "action",
    "model_version",
    "created_at",
    "degraded",
    # The parties, copied out of the transaction into indexed columns (a review's history).
    "payer_id",
    "payee_id",
    # The features, packed: the id of their names' catalogue and the vector of their values.
    "catalogue_id",
    "feature_values",
    # The rest, packed (transaction, reasons, timings, policy, body hash), and the amount.
    "record",
    "amount",
)


# Under 999 parameters, the cap of SQLite builds before 3.32.
_SQLITE_ROWS_PER_INSERT = 999 // len(_DECISION_COLUMNS)
# PostgreSQL takes up to 65,535 parameters a statement; the group commit sends up to 256 rows.
_POSTGRES_ROWS_PER_INSERT = 1000


@functools.lru_cache(maxsize=512)
def _decision_insert_sql(sqlite: bool, rows: int = 1) -> str:
    """The driver's INSERT ... ON CONFLICT DO NOTHING for ``rows`` decision rows.

    SQLite: one row for the row-by-row fallback, many for its batches
    (``SqlLedger._insert_rows``). PostgreSQL: a batch (``SqlLedger._record_postgres``),
    returning the ids it inserted.
    """
    mark = "?" if sqlite else "%s"
    columns = ", ".join(f'"{c}"' for c in _DECISION_COLUMNS)
    values = ", ".join(mark for _ in _DECISION_COLUMNS)
    groups = ", ".join([f"({values})"] * rows)
    # PostgreSQL's partitioned ``decisions`` has no key on the id alone: its trigger skips a row
    # whose id ``decision_ids`` holds (``store.partitions``), which RETURNING then leaves out.
    insert = f"INSERT INTO decisions ({columns}) VALUES {groups} ON CONFLICT"
    if sqlite:
        return f"{insert} (transaction_id) DO NOTHING"
    return f"{insert} DO NOTHING RETURNING transaction_id"


def _postgres_insert(conn: Connection, rows: Sequence[Sequence[Any]]) -> list[str]:
    """PostgreSQL: ``rows`` in one INSERT; the ids it inserted."""
    sql = _decision_insert_sql(False, len(rows))
    return list(conn.exec_driver_sql(sql, tuple(chain.from_iterable(rows))).scalars())


def _encode_decision(
    d: DecisionRecord, sqlite: bool, catalogues: FeatureCatalogues
) -> tuple[Any, ...]:
    """The driver parameters of a decision row, in ``_DECISION_COLUMNS`` order.

    Aware UTC times (on SQLite the text SQLAlchemy writes and parses, without an offset, so that
    stored times compare as text); the payload packed (``decision_codec``).
    """
    event_time, created_at = _utc(d.event_time, "event_time"), _utc(d.created_at, "created_at")
    try:
        catalogue, vector = catalogues.pack(d.features)
        record = pack_record(
            transaction_id=d.transaction_id,
            event_time=event_time,
            body_hash=d.body_hash,
            transaction=d.transaction,
            reasons=d.reasons,
            timings=d.timings,
            policy=d.policy,
        )
    except StoreError as exc:  # RecordRefusedError (a value no record holds) stays one
        raise type(exc)(f"decision {d.transaction_id!r}: {exc}") from exc
    amount = d.transaction.get("amount")
    return (
        d.transaction_id,
        _sqlite_time(event_time) if sqlite else event_time,
        float(d.score),
        int(d.risk_score),
        d.tier,
        d.action,
        d.model_version,
        _sqlite_time(created_at) if sqlite else created_at,
        bool(d.degraded),
        d.payer_id or _party(d.transaction.get("payer_id")),
        d.payee_id or _party(d.transaction.get("payee_id")),
        catalogue,
        vector,
        record,
        _amount(amount),
    )


def _amount(value: object) -> float | None:
    """The transaction's amount for the ``amount`` column: a finite number, else NULL (as the
    JSON's ``amount`` read as a float gave for the sums)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise StoreError(f"naive {name} {value!r}: the ledger stores aware UTC times")
    return value.astimezone(UTC)


def _sqlite_time(v: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text, which ``UTCDateTime`` reads back. One %-format: seven
    # f-string fields cost twice as much (the writer makes two a decision).
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 (measured faster)
        v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond
    )  # fmt: skip


_ID_SQL = "SELECT 1 FROM decision_ids WHERE transaction_id = %s"


class _IdProbe:
    """``has_decision``: on SQLite a connection of its own asks the file directly (~5 µs against
    ~100 µs of CPU through a pooled SQLAlchemy connection); on PostgreSQL one SELECT of
    ``decision_ids`` (one index probe whatever the number of partitions) on a pooled
    connection's driver connection in autocommit (``postgres.driver_autocommit``): one round
    trip, where a transaction's BEGIN, SELECT and the pool's ROLLBACK on return were three
    (15 against 65-90 µs of the server's CPU a look-up), and ~60 µs of the client's CPU against
    ~165 µs through SQLAlchemy's ``Connection``."""

    def __init__(self, engine: Engine) -> None:
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._file = engine.url.database if engine.dialect.name == "sqlite" else None
        self._driver: Callable[[], AbstractContextManager[Any]] | None = None
        if self._file is None:
            from frisk.store.postgres import driver_autocommit

            self._driver = functools.partial(driver_autocommit, engine)

    def has(self, transaction_id: str) -> bool:
        if self._file is None:
            assert self._driver is not None
            with self._driver() as conn:
                found = conn.execute(_ID_SQL, (transaction_id,)).fetchone()
            return found is not None
        with self._lock:
            if self._conn is None:
                # Autocommit: each SELECT sees the latest commit and holds no read transaction.
                self._conn = sqlite3.connect(
                    self._file, isolation_level=None, check_same_thread=False
                )
                self._conn.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
            found = self._conn.execute(
                "SELECT 1 FROM decisions WHERE transaction_id = ?", (transaction_id,)
            ).fetchone()
        return found is not None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class _SqliteWriter:
    """New decisions on SQLite through a connection of its own, with the pool's pragmas
    (``synchronous=FULL``: durable at commit). A commit through a pooled SQLAlchemy connection
    (checkout, events, transaction objects, reset on return) cost ~200 µs more CPU, at a few
    decisions per group commit a quarter of the service's ledger cost per decision.

    ``insert`` commits only when every row was new; otherwise it rolls back and says how many
    were (the caller then learns which, row by row).
    """

    def __init__(self, file: str | None) -> None:
        self._file = file or ""
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def insert(self, rows: list[tuple[Any, ...]]) -> int:
        with self._lock:
            if self._conn is None:
                self._conn = sqlite3.connect(
                    self._file,
                    isolation_level=None,  # transactions as written below
                    timeout=_SQLITE_BUSY_MS / 1000,
                    check_same_thread=False,
                )
                _sqlite_pragmas(self._conn, None)
            conn = self._conn
            # IMMEDIATE: the write lock first (waiting up to the busy timeout), so the insert
            # never fails on a snapshot another writer's commit made stale.
            conn.execute("BEGIN IMMEDIATE")
            try:
                inserts = _sqlite_inserts(rows)
                inserted = sum(conn.execute(sql, params).rowcount for sql, params in inserts)
                conn.execute("COMMIT" if inserted == len(rows) else "ROLLBACK")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return inserted

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _sqlite_inserts(rows: Sequence[Sequence[Any]]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """SQLite's multi-row inserts of ``rows``: each statement and its flat parameters."""
    for start in range(0, len(rows), _SQLITE_ROWS_PER_INSERT):
        chunk = rows[start : start + _SQLITE_ROWS_PER_INSERT]
        yield _decision_insert_sql(True, len(chunk)), tuple(chain.from_iterable(chunk))


def _party(value: object) -> str | None:
    return None if value is None else str(value)


def _api_key(row: RowMapping) -> ApiKeyRecord:
    return ApiKeyRecord(**{**row, "role": Role(row["role"])})
