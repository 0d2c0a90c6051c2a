"""The ledger's indexes against the queries the API and monitoring run, on PostgreSQL at volume.

A ledger of ``FRISK_TEST_PLAN_ROWS`` decisions (2,000,000 by default, 60 days, generated in SQL
with ``generate_series``, packed as the ledger packs them, indexes built after the load as the
migrations define them) is asked what the service asks, through the real functions; every
statement they send is captured and ``EXPLAIN``-ed. The selective ones (an id, a page of the
newest, a review page, a party's history, the drift window, the replay and archive reads) must
read ``decisions`` through an index, never scan it whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from frisk.store import SqlLedger, open_ledger
from frisk.store.archive import _oldest
from frisk.store.decision_codec import iso_time, pack_record
from frisk.store.feature_catalogues import catalogues_of, recent_features
from frisk.store.feature_codec import pack
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


def _plans(ledger: SqlLedger, call: Any) -> list[tuple[str, dict[str, Any]]]:
    """``call()``'s statements to PostgreSQL, each with its plan."""
    sent: list[tuple[str, Any]] = []

    def seen(_conn: object, _cursor: object, statement: str, params: Any, *_: object) -> None:
        sent.append((statement, params))

    sa.event.listen(ledger.engine, "before_cursor_execute", seen)
    try:
        result = call()
        if isinstance(result, Iterator):
            next(result, None)
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", seen)
    out = []
    raw = ledger.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, params in sent:
            if "decisions" not in statement:
                continue
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
            out.append((statement, cursor.fetchone()[0][0]["Plan"]))
    finally:
        raw.close()
    return out


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _reads(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """How each node reading ``decisions`` reads it: (node type, index)."""
    return [
        (node["Node Type"], node.get("Index Name"))
        for node in _nodes(plan)
        if node.get("Relation Name") == "decisions"
    ]


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
    for statement, plan in plans:
        reads = _reads(plan)
        assert reads, statement
        for node, index in reads:
            assert node != "Seq Scan", f"{name} scans decisions whole:\n{statement}\n{plan}"
            assert index is not None or node == "Bitmap Heap Scan", (name, node, statement)
