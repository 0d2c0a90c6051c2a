"""One suite, every ledger back end: SQLite (a temporary file) and PostgreSQL (a fresh schema)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from frisk.errors import ConflictError, NotFoundError, StoreError
from frisk.policy import ListEntry, NamedList, Rule
from frisk.store import (
    ApiKeyRecord,
    AuditEntry,
    DecisionRecord,
    Ledger,
    Role,
    SqlLedger,
    current_revision,
    default_url,
    head_revision,
    open_ledger,
)
from frisk.store.ledger import ShadowDecision

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    if request.param == "sqlite":
        url = default_url(tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
    store = open_ledger(url)
    yield store
    store.close()


def decision(txn_id: str = "t1", **changes: object) -> DecisionRecord:
    base = DecisionRecord(
        transaction_id=txn_id,
        body_hash="a" * 64,
        event_time=T0,
        transaction={"transaction_id": txn_id, "amount": 12.5, "currency": "EUR"},
        features={"amount": 12.5, "txn_count_by_payer_1h": 3.0, "missing": None},
        score=0.125,
        risk_score=13,
        tier="low",
        action="allow",
        reasons=[{"feature": "amount", "value": 12.5, "contribution": 0.1, "sentence": "s"}],
        model_version="m-1",
        timings={"features": 0.2, "model": 0.3, "total": 0.6},
        created_at=T0 + timedelta(seconds=1),
        degraded=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_is_a_ledger(ledger: SqlLedger) -> None:
    assert isinstance(ledger, Ledger)
    assert current_revision(ledger.engine) == head_revision()


def test_record_then_get_round_trips(ledger: SqlLedger) -> None:
    d = decision()
    assert ledger.record_decision(d) == d
    got = ledger.get_decision("t1")
    assert got == d
    assert got is not None
    assert got.created_at.tzinfo is not None
    assert got.event_time == T0


def test_get_missing_is_none(ledger: SqlLedger) -> None:
    assert ledger.get_decision("nope") is None


def test_record_is_idempotent_and_returns_the_first(ledger: SqlLedger) -> None:
    first = decision(score=0.1)
    ledger.record_decision(first)
    again = ledger.record_decision(decision(score=0.9, body_hash="b" * 64))
    assert again == first
    assert ledger.get_decision("t1") == first


def test_record_many_in_one_call(ledger: SqlLedger) -> None:
    assert ledger.record_decisions([]) == []
    first = ledger.record_decision(decision("m-1", score=0.5))
    batch = [
        decision("m-0", policy={"decided_by": "model", "matched": []}),
        decision("m-1", score=0.9, body_hash="b" * 64),  # recorded before: the first comes back
        decision("m-2", features={"a": np.float64(0.25), "b": None, "c": "FR"}),
        decision("m-3", created_at=T0 + timedelta(seconds=5), reasons=()),
    ]
    got = ledger.record_decisions(batch)
    assert [g.transaction_id for g in got] == ["m-0", "m-1", "m-2", "m-3"]
    assert got[0] is batch[0]
    assert got[2] is batch[2]
    assert got[3] is batch[3]
    assert got[1] == first
    assert ledger.get_decision("m-0") == batch[0]
    assert ledger.get_decision("m-2") == replace(
        batch[2], features={"a": 0.25, "b": None, "c": "FR"}
    )
    assert ledger.get_decision("m-3") == replace(batch[3], reasons=[])
    # Rows written in a batch sort and page like any other.
    assert [d.transaction_id for d in ledger.recent_decisions(2)] == ["m-3", "m-2"]
    assert len(list(ledger.decisions_since(T0, batch=2))) == 4


def test_new_decisions_are_one_statement(
    ledger: SqlLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scoring path's fast case: no read-back, no row-by-row retry. The first decision of a
    # feature catalogue stores its names.
    ledger.record_decision(decision("first"))
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    # On SQLite new decisions go through the writer's own connection (not the engine's pool);
    # on PostgreSQL through a pooled connection's driver connection, in autocommit: the
    # statement is its transaction (psycopg sends no BEGIN, the server commits before it
    # answers), one round trip.
    writer = ledger._writer._conn if ledger._writer is not None else None
    autocommit: list[bool] = []
    if ledger.engine.dialect.name == "postgresql":
        import psycopg

        execute = psycopg.Connection.execute

        def traced(self: psycopg.Connection[Any], query: Any, *args: Any, **kw: Any) -> Any:
            statements.append(str(query))
            autocommit.append(self.autocommit)
            return execute(self, query, *args, **kw)

        monkeypatch.setattr(psycopg.Connection, "execute", traced)
    sa.event.listen(ledger.engine, "before_cursor_execute", seen)
    if writer is not None:
        writer.set_trace_callback(statements.append)
    try:
        ledger.record_decisions([decision(f"one-{i}") for i in range(5)])
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", seen)
        if writer is not None:
            writer.set_trace_callback(None)
    transaction = {"BEGIN", "COMMIT"}
    assert [s.split()[0] for s in statements if s.split()[0] not in transaction] == ["INSERT"]
    assert all(autocommit)
    if ledger.engine.dialect.name == "postgresql":
        assert autocommit == [True]
        assert ledger.get_decision("one-4") == decision("one-4")  # pooled connections usable


def test_new_decisions_are_durable_at_commit_on_sqlite(tmp_path: Path) -> None:
    # The writer's own connection keeps the pool's pragmas: synchronous=FULL (fsync at each
    # commit, so a decision is durable before it is returned), WAL, foreign keys.
    ledger = open_ledger(default_url(tmp_path))
    try:
        ledger.record_decisions([decision("durable-0"), decision("durable-1")])
        assert ledger._writer is not None
        assert ledger._writer._conn is not None
        conn = ledger._writer._conn
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert not conn.in_transaction
    finally:
        ledger.close()
    reopened = open_ledger(default_url(tmp_path))
    try:
        assert reopened.get_decision("durable-1") == decision("durable-1")
    finally:
        reopened.close()


def test_a_batch_larger_than_one_statement_holds_keeps_order_and_finds_earlier_ids(
    ledger: SqlLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite inserts up to 58 rows a statement, PostgreSQL (here) 50: 130 rows are three, the
    # earlier id in the last.
    monkeypatch.setattr("frisk.store.sql._POSTGRES_ROWS_PER_INSERT", 50)
    first = ledger.record_decision(decision("big-125", score=0.5))
    batch = [decision(f"big-{i}", score=0.9) for i in range(130)]
    got = ledger.record_decisions(batch)
    assert [g.transaction_id for g in got] == [f"big-{i}" for i in range(130)]
    assert got[125] == first
    assert all(got[i] is batch[i] for i in range(130) if i != 125)
    assert ledger.get_decision("big-129") == batch[129]
    assert ledger.get_decision("big-125") == first


def test_the_same_id_twice_in_one_call_is_recorded_once(ledger: SqlLedger) -> None:
    a, b = decision("twice", score=0.1), decision("twice", score=0.2, created_at=T0)
    got = ledger.record_decisions([a, b])
    assert got[0] is a
    assert got[1] == a
    assert ledger.get_decision("twice") == a


def test_a_batch_the_database_refuses_records_none_of_it(
    ledger: SqlLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One statement (PostgreSQL: in autocommit) or one transaction: all of it or nothing, also
    # when the batch takes several statements.
    refused = decision("r-2", model_version=None)  # NOT NULL on both back ends
    with pytest.raises((StoreError, ConflictError)):
        ledger.record_decisions([decision("r-1"), refused])
    monkeypatch.setattr("frisk.store.sql._POSTGRES_ROWS_PER_INSERT", 2)
    with pytest.raises((StoreError, ConflictError)):
        ledger.record_decisions([decision("r-3"), decision("r-4"), refused])
    assert not any(ledger.has_decision(f"r-{i}") for i in range(1, 5))


def test_has_decision(ledger: SqlLedger) -> None:
    assert not ledger.has_decision("h-1")
    ledger.record_decisions([decision("h-1")])
    assert ledger.has_decision("h-1")
    assert not ledger.has_decision("h-2")


def test_a_decision_that_is_not_json_is_refused_and_nothing_is_recorded(
    ledger: SqlLedger,
) -> None:
    with pytest.raises(StoreError, match="does not encode as JSON"):
        ledger.record_decisions([decision("j-1"), decision("j-2", transaction={"x": object()})])
    assert not ledger.has_decision("j-1")


def test_concurrent_records_of_one_id_agree(ledger: SqlLedger) -> None:
    results: list[DecisionRecord] = []
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            results.append(ledger.record_decision(decision("same", score=i / 10)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.score for r in results}) == 1


def test_recent_decisions_newest_first_with_filters(ledger: SqlLedger) -> None:
    for i in range(5):
        action = "review" if i % 2 else "allow"
        ledger.record_decision(
            decision(f"t{i}", created_at=T0 + timedelta(seconds=i), action=action)
        )
    assert [d.transaction_id for d in ledger.recent_decisions(3)] == ["t4", "t3", "t2"]
    assert [d.transaction_id for d in ledger.recent_decisions(action="review")] == ["t3", "t1"]
    older = ledger.recent_decisions(10, before=T0 + timedelta(seconds=2))
    assert [d.transaction_id for d in older] == ["t1", "t0"]


def test_decisions_since_in_event_order_across_pages(ledger: SqlLedger) -> None:
    # Ties on event time and ids that sort differently from insertion order.
    times = [T0 + timedelta(minutes=m) for m in (5, 1, 3, 3, 0, 7, 3)]
    for i, t in enumerate(times):
        ledger.record_decision(decision(f"x{9 - i}", event_time=t))
    got = list(ledger.decisions_since(T0 + timedelta(minutes=1), batch=2))
    expected = sorted(
        ((t, f"x{9 - i}") for i, t in enumerate(times) if t >= T0 + timedelta(minutes=1)),
    )
    assert [(d.event_time, d.transaction_id) for d in got] == expected


def test_decision_counts_by_action(ledger: SqlLedger) -> None:
    for i, action in enumerate(["allow", "allow", "review", "block"]):
        ledger.record_decision(decision(f"c{i}", action=action, created_at=T0 + timedelta(hours=i)))
    assert ledger.decision_counts(T0) == {"allow": 2, "review": 1, "block": 1}
    assert ledger.decision_counts(T0 + timedelta(hours=2)) == {"review": 1, "block": 1}


def test_labels_keep_history(ledger: SqlLedger) -> None:
    assert ledger.get_label("t1") is None
    ledger.set_label("t1", "fraud", label_timestamp=T0, source="chargeback", actor="alice")
    current = ledger.set_label(
        "t1", "legit", label_timestamp=T0 + timedelta(days=1), source="review", actor="bob"
    )
    assert ledger.get_label("t1") == current
    history = ledger.label_history("t1")
    assert [(h.previous, h.label, h.changed_by) for h in history] == [
        (None, "fraud", "alice"),
        ("fraud", "legit", "bob"),
    ]


def test_api_keys_crud(ledger: SqlLedger) -> None:
    key = ApiKeyRecord("k1", "h" * 64, Role.ANALYST, "dash", created_at=T0)
    ledger.add_api_key(key)
    assert ledger.get_api_key("k1") == key
    assert ledger.get_api_key("k2") is None
    with pytest.raises(ConflictError):
        ledger.add_api_key(key)
    revoked = ledger.revoke_api_key("k1", T0 + timedelta(hours=1))
    assert not revoked.active
    assert revoked.role is Role.ANALYST
    # Revoking again keeps the first revocation time.
    assert ledger.revoke_api_key("k1", T0 + timedelta(hours=2)) == revoked
    assert ledger.list_api_keys() == []
    assert ledger.list_api_keys(include_revoked=True) == [revoked]
    with pytest.raises(NotFoundError):
        ledger.revoke_api_key("missing", T0)


def test_audit_log_newest_first(ledger: SqlLedger) -> None:
    ledger.append_audit(AuditEntry("cli", "key.create", "key:k1", T0, after={"role": "admin"}))
    ledger.append_audit(
        AuditEntry("cli", "key.revoke", "key:k1", T0, before={"a": 1}, after={"a": 2})
    )
    ledger.append_audit(AuditEntry("cli", "key.create", "key:k2", T0))
    assert [e.action for e in ledger.audit_log(target="key:k1")] == ["key.revoke", "key.create"]
    newest = ledger.audit_log(limit=1)[0]
    assert newest.target == "key:k2"
    assert newest.before is None
    assert ledger.audit_log(target="key:k1")[0].after == {"a": 2}


def test_migrations_are_idempotent(ledger: SqlLedger) -> None:
    from frisk.store import upgrade

    assert upgrade(ledger.engine) == head_revision()


def test_driver_errors_become_store_errors(ledger: SqlLedger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE decisions"))
        if ledger.engine.dialect.name == "postgresql":  # where ``has_decision`` looks
            conn.execute(sa.text("DROP TABLE decision_ids"))
    with pytest.raises(StoreError, match="the ledger failed") as info:
        ledger.get_decision("t1")
    assert not isinstance(info.value.__cause__, StoreError)
    with pytest.raises(StoreError, match="the ledger failed"):
        ledger.has_decision("t1")
    with pytest.raises(StoreError, match="the ledger failed"):
        ledger.record_decisions([decision("t1"), decision("t2")])
    ledger.ping()


def test_naive_datetimes_are_refused(ledger: SqlLedger) -> None:
    with pytest.raises(StoreError):
        ledger.record_decision(decision(created_at=datetime(2024, 1, 1)))
    with pytest.raises(StoreError, match="naive event_time"):
        ledger.record_decisions([decision("n-1"), decision("n-2", event_time=datetime(2024, 1, 1))])
    assert not ledger.has_decision("n-1")


def test_migrations_build_the_schema_the_tables_declare(ledger: SqlLedger) -> None:
    # The migrations freeze the schema by repeating tables.py; this catches the two drifting apart
    # (a column or index added in one place only) on each back end.
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from frisk.store.tables import metadata

    dialect = ledger.engine.dialect.name

    def declared(obj: object, name: str | None, kind: str, reflected: bool, _: object) -> bool:
        if kind != "table":
            return True
        # PostgreSQL's day partitions of ``decisions`` (created at run time, not declared), and
        # the tables of one back end only.
        if reflected and name is not None and name.startswith("decisions_"):
            return False
        only = getattr(obj, "info", {}).get("dialects")
        return only is None or dialect in only

    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": declared})
        diff = compare_metadata(context, metadata)
    # Type spelling differences (JSON vs JSONB variants, DateTime flavours) are not drift.
    structural = [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert structural == []


# -- what routes, the engine and monitoring read and write through the Protocol ----------------


def test_audit_log_pages_backwards_by_entry_id(ledger: SqlLedger) -> None:
    for i in range(5):
        target = "rule:a" if i % 2 == 0 else "list:b"
        ledger.append_audit(AuditEntry("alice", f"act.{i}", target, T0 + timedelta(seconds=i)))
    first = ledger.audit_log(limit=2)
    assert [e.action for e in first] == ["act.4", "act.3"]
    assert first[-1].id is not None
    rest = ledger.audit_log(limit=10, before=first[-1].id)
    assert [e.action for e in rest] == ["act.2", "act.1", "act.0"]
    ruled = ledger.audit_log(target="rule:a", limit=10, before=first[0].id)
    assert [e.action for e in ruled] == ["act.2", "act.0"]


def test_labels_changed_since_in_update_order(ledger: SqlLedger) -> None:
    ledger.set_label("t1", "fraud", label_timestamp=T0, source="s", actor="a")
    ledger.set_label("t2", "legit", label_timestamp=T0, source="s", actor="a")
    everything = ledger.labels_changed_since(None)
    assert [r.transaction_id for r in everything] == ["t1", "t2"]
    assert ledger.labels_changed_since(everything[-1].updated_at) == []
    changed = ledger.set_label("t1", "legit", label_timestamp=T0, source="s", actor="b")
    assert ledger.labels_changed_since(everything[-1].updated_at) == [changed]


def test_decisions_with_labels_in_event_order_within_the_range(ledger: SqlLedger) -> None:
    for i in range(3):
        ledger.record_decision(decision(f"t{i}", event_time=T0 + timedelta(hours=i)))
    ledger.set_label("t1", "fraud", label_timestamp=T0, source="s", actor="a")
    rows = ledger.decisions_with_labels()
    assert [(r["transaction_id"], r["label"]) for r in rows] == [
        ("t0", None),
        ("t1", "fraud"),
        ("t2", None),
    ]
    assert rows[1]["features"] == decision().features
    window = ledger.decisions_with_labels(
        start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=2)
    )
    assert [r["transaction_id"] for r in window] == ["t1"]


def test_shadow_decisions_are_recorded_once_and_counted(ledger: SqlLedger) -> None:
    ledger.record_decision(decision("t1", action="review"))
    shadow = ShadowDecision("t1", "m-2", 0.9, 90, "critical", "block", T0)
    ledger.record_shadow_decisions([shadow])
    ledger.record_shadow_decisions([replace(shadow, score=0.1, action="allow")])  # kept: first
    ledger.record_shadow_decisions([])
    counts = ledger.monitoring.daily_counts(7)
    assert counts is not None
    assert [(c.model_version, c.decisions, c.alerts) for c in counts.shadowed] == [("m-2", 1, 1)]
    assert [(c.model_version, c.decisions, c.alerts) for c in counts.served] == [("m-1", 1, 1)]


def test_an_empty_ledger_has_no_daily_counts(ledger: SqlLedger) -> None:
    assert ledger.monitoring.daily_counts(7) is None


def test_the_score_window_is_the_newest_decisions_of_one_version(ledger: SqlLedger) -> None:
    for i in range(4):
        ledger.record_decision(
            decision(
                f"t{i}",
                score=i / 10,
                created_at=T0 + timedelta(minutes=i),
                features={"amount": float(i), "channel": "card", "missing": None},
                model_version="m-1" if i < 3 else "m-2",
            )
        )
    features = [("amount", False), ("channel", True), ("missing", False)]
    rows = ledger.monitoring.score_window("m-1", features, last=2)
    assert [r.score for r in rows] == [0.2, 0.1]
    assert rows[0].values == (2.0, "card", None)
    since = ledger.monitoring.score_window(
        "m-1", features, last=10, since=T0 + timedelta(minutes=1)
    )
    assert [r.score for r in since] == [0.2, 0.1]


def test_recorded_transactions_in_event_order_before_a_time(ledger: SqlLedger) -> None:
    for i in (2, 0, 1):
        ledger.record_decision(decision(f"t{i}", event_time=T0 + timedelta(hours=i)))
    seen = list(ledger.monitoring.transactions())
    assert [t["transaction_id"] for t in seen] == ["t0", "t1", "t2"]
    assert seen[0]["amount"] == 12.5
    early = ledger.monitoring.transactions(before=T0 + timedelta(hours=2))
    assert [t["transaction_id"] for t in early] == ["t0", "t1"]


def test_labels_known_before_a_cutoff(ledger: SqlLedger) -> None:
    ledger.set_label("t1", "fraud", label_timestamp=T0, source="s", actor="a")
    ledger.set_label("t2", "legit", label_timestamp=T0 + timedelta(days=1), source="s", actor="a")
    known = ledger.monitoring.labels_known_before(T0 + timedelta(hours=1))
    assert [(r.transaction_id, r.label) for r in known] == [("t1", "fraud")]


def test_policy_versions_count_changes_of_rules_and_lists(ledger: SqlLedger) -> None:
    assert ledger.policy_versions() == {}
    ledger.rules.put(Rule("big", "amount > 10", "review"), actor="a", at=T0)
    ledger.lists.create(NamedList("cards", "block", "payer_id"), actor="a", at=T0)
    ledger.lists.add("cards", [ListEntry("p1")], actor="a", at=T0)
    assert ledger.policy_versions() == {"rules": 1, "lists": 2}
    assert ledger.rules.describe()[1][0].rule.name == "big"
    assert ledger.lists.entries("cards") == [ListEntry("p1")]


def test_the_review_queue_is_part_of_the_ledger(ledger: SqlLedger) -> None:
    ledger.record_decision(decision("t1", action="review"))
    item = ledger.reviews.get("t1")
    assert item is not None
    assert item.transaction_id == "t1"
    assert ledger.reviews.get("missing") is None


def test_callbacks_run_once_when_the_ledger_closes(tmp_path: Path) -> None:
    opened = open_ledger(default_url(tmp_path))
    calls: list[str] = []
    opened.on_close(lambda: calls.append("closed"))
    opened.close()
    opened.close()
    assert calls == ["closed"]
