"""The ledger's indexes against the queries the API and monitoring run, on PostgreSQL at volume.

A ledger of ``FRISK_TEST_PLAN_ROWS`` decisions (2,000,000 by default, 60 days, generated in SQL
with ``generate_series``, packed as the ledger packs them, indexes built after the load as the
migrations define them) is asked what the service asks, through the real functions; every
statement they send is captured and ``EXPLAIN``-ed. The selective ones (an id, a page of the
newest, a review page, a party's history, the drift window, the replay and archive reads) must
read ``decisions`` through an index, never scan it whole.

``decisions`` is partitioned by day (migration 0006): one partition per day of the 60, every
id in ``decision_ids`` (written by the table's trigger during the load). A partition's scan
counts as a read of ``decisions``; the id lookups and the reads bounded by transaction time
must, run, touch one or two days' partitions, not all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from frisk.store import SqlLedger, open_ledger
from frisk.store.archive import _oldest
from frisk.store.decision_codec import iso_time, pack_record
from frisk.store.feature_catalogues import catalogues_of, recent_features
from frisk.store.feature_codec import pack
from frisk.store.partitions import ensure_partitions, partition_name
from frisk.store.reviews import ReviewFilter, ReviewStore
from frisk.store.tables import decisions

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROWS = int(os.environ.get("FRISK_TEST_PLAN_ROWS", "2000000"))
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=60)


@pytest.fixture(scope="module")
def big_ledger(request: pytest.FixtureRequest) -> Iterator[SqlLedger]:
    import uuid

    request.getfixturevalue("require_service")("PostgreSQL", "127.0.0.1", 5432)
    url = sa.make_url(
        os.environ.get("FRISK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
    )
    schema = f"frisk_plans_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    in_schema = url.update_query_dict({"options": f"-csearch_path={schema}"})
    ledger = open_ledger(in_schema.render_as_string(hide_password=False))
    try:
        _load(ledger)
        yield ledger
    finally:
        ledger.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _load(ledger: SqlLedger) -> None:
    catalogue = catalogues_of(ledger.engine).id_for(("amount", "txn_count_by_payer_1h"))
    step = SPAN.total_seconds() / ROWS
    ensure_partitions(ledger.engine, today=T0.date(), ahead=SPAN.days)
    with ledger.engine.begin() as conn:
        for index in decisions.indexes:
            conn.execute(sa.text(f'DROP INDEX "{index.name}"'))
        conn.execute(
            sa.text(
                """
                INSERT INTO decisions (transaction_id, event_time, score, risk_score, tier,
                    action, model_version, created_at, degraded, payer_id, payee_id,
                    catalogue_id, feature_values, record, amount)
                SELECT 'g' || lpad(i::text, 9, '0'), at,
                    (i % 1000) / 1000.0, i % 100,
                    CASE WHEN i % 100 >= 90 THEN 'high' ELSE 'low' END,
                    CASE WHEN i % 100 = 99 THEN 'block' WHEN i % 100 >= 97 THEN 'review'
                         ELSE 'allow' END,
                    CASE WHEN i <= :rows * 0.9 THEN 'm-1' ELSE 'm-2' END,
                    at + interval '1 second', false, 'p' || (i % 50000), 'm' || (i % 4000),
                    :catalogue, :vector, :record, (i % 997) + 0.5
                FROM generate_series(1, :rows) AS i,
                    LATERAL (SELECT :t0 + i * make_interval(secs => :step) AS at) AS t
                """
            ),
            {
                "rows": ROWS,
                "catalogue": catalogue,
                "vector": pack([12.5, 3.0]),
                # Packed as the ledger packs them: each row's own id and time stand in.
                "record": pack_record(
                    transaction_id="g",
                    event_time=T0,
                    body_hash="ab" * 32,
                    transaction={
                        "transaction_id": "g",
                        "timestamp": iso_time(T0),
                        "amount": 10.5,
                        "currency": "EUR",
                        "payer_id": "p1",
                        "payee_id": "m1",
                    },
                    reasons=[],
                    timings={"total": 1.0},
                    policy={"decided_by": "model"},
                ),
                "t0": T0,
                "step": step,
            },
        )
        for index in decisions.indexes:
            index.create(conn)
        conn.execute(sa.text("ANALYZE decisions"))
        conn.execute(sa.text("ANALYZE decision_ids"))


def _plans(
    ledger: SqlLedger, call: Any, *, analyze: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """``call()``'s statements to PostgreSQL, each with its plan (run, with ``analyze``)."""
    sent: list[tuple[str, Any]] = []

    def seen(_conn: object, _cursor: object, statement: str, params: Any, *_: object) -> None:
        sent.append((statement, params))

    # The decision path's look-up and insert go on the driver connection itself
    # (``postgres.driver_autocommit``), past SQLAlchemy's events.
    execute = psycopg.Connection.execute

    def driver(self: psycopg.Connection[Any], query: Any, params: Any = None, **kw: Any) -> Any:
        sent.append((str(query), params))
        return execute(self, query, params, **kw)

    sa.event.listen(ledger.engine, "before_cursor_execute", seen)
    psycopg.Connection.execute = driver  # type: ignore[method-assign]
    try:
        result = call()
        if isinstance(result, Iterator):
            next(result, None)
    finally:
        psycopg.Connection.execute = execute  # type: ignore[method-assign]
        sa.event.remove(ledger.engine, "before_cursor_execute", seen)
    out = []
    raw = ledger.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, params in sent:
            if "decisions" not in statement and "decision_ids" not in statement:
                continue
            how = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
            cursor.execute(f"EXPLAIN ({how}) " + statement, params)
            out.append((statement, cursor.fetchone()[0][0]["Plan"]))
    finally:
        raw.close()
    return out


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _is_decisions(relation: str | None) -> bool:
    """``decisions``, one of its day partitions, or its ids."""
    return relation is not None and (
        relation in ("decisions", "decision_ids") or relation.startswith("decisions_")
    )


def _reads(
    plan: dict[str, Any], *, small: frozenset[str] = frozenset()
) -> list[tuple[str, str | None]]:
    """How each node reading ``decisions`` reads it: (node type, index); not the ``small``
    partitions (empty ones ahead, the default one), which the planner rightly reads whole."""
    return [
        (node["Node Type"], node.get("Index Name"))
        for node in _nodes(plan)
        if _is_decisions(node.get("Relation Name")) and node.get("Relation Name") not in small
    ]


def _small_partitions(ledger: SqlLedger) -> frozenset[str]:
    """The partitions of ``decisions`` holding fewer than 1,000 rows."""
    with ledger.engine.connect() as conn:
        names = conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass('decisions') AND c.reltuples < 1000"
            )
        ).scalars()
        return frozenset(names)


LOADED = {partition_name((T0 + timedelta(days=n)).date()) for n in range(SPAN.days + 1)}


def _partitions_read(plan: dict[str, Any]) -> set[str]:
    """The loaded days' partitions an ``EXPLAIN ANALYZE`` plan actually read (pruned ones are
    not run; the empty ones of today and after, and the default one, are not counted)."""
    return {
        node["Relation Name"]
        for node in _nodes(plan)
        if node.get("Relation Name") in LOADED and node.get("Actual Loops", 0) > 0
    }


NOW = T0 + SPAN
QUERIES = {
    "has_decision": lambda ledger: ledger.has_decision("g000123456"),
    "get_decision": lambda ledger: ledger.get_decision("g000123456"),
    "recent_decisions": lambda ledger: ledger.recent_decisions(50),
    "recent_decisions_before": lambda ledger: ledger.recent_decisions(
        50, before=T0 + timedelta(days=30)
    ),
    "decisions_since": lambda ledger: ledger.decisions_since(NOW - timedelta(hours=1)),
    "decision_counts": lambda ledger: ledger.decision_counts(NOW - timedelta(hours=1)),
    "review_queue": lambda ledger: ReviewStore(ledger.engine).page(ReviewFilter(), now=NOW),
    "payer_history": lambda ledger: ReviewStore(ledger.engine).history(payer_id="p123"),
    "payee_history": lambda ledger: ReviewStore(ledger.engine).history(payee_id="m12"),
    "drift_window": lambda ledger: recent_features(ledger.engine, "m-2", last=5000),
    "archive_oldest": lambda ledger: _oldest(ledger.engine, T0 + timedelta(days=1)),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_selective_queries_read_decisions_through_an_index(
    big_ledger: SqlLedger, name: str
) -> None:
    plans = _plans(big_ledger, lambda: QUERIES[name](big_ledger))
    assert plans, f"{name} sent no statement reading decisions"
    small = _small_partitions(big_ledger)
    for statement, plan in plans:
        reads = _reads(plan, small=small)
        assert reads, statement
        for node, index in reads:
            assert node != "Seq Scan", f"{name} scans decisions whole:\n{statement}\n{plan}"
            assert index is not None or node == "Bitmap Heap Scan", (name, node, statement)


# What reads one id or a bounded span of transaction time: pruned to a day or two when run.
PRUNED = {
    "get_decision": QUERIES["get_decision"],
    "decisions_since": QUERIES["decisions_since"],
    "archive_oldest": QUERIES["archive_oldest"],
}


@pytest.mark.parametrize("name", sorted(PRUNED))
def test_id_and_time_bounded_reads_touch_one_or_two_day_partitions(
    big_ledger: SqlLedger, name: str
) -> None:
    plans = _plans(big_ledger, lambda: PRUNED[name](big_ledger), analyze=True)
    read = set().union(*(_partitions_read(plan) for _, plan in plans))
    assert 1 <= len(read) <= 2, (name, sorted(read))


def test_the_load_filled_one_partition_per_day_and_every_id(big_ledger: SqlLedger) -> None:
    with big_ledger.engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT count(*) FROM decision_ids")).scalar_one()
        default = conn.execute(sa.text("SELECT count(*) FROM decisions_default")).scalar_one()
    assert ids == ROWS
    assert default == 0
