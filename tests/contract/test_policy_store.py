"""Rules and lists in the ledger, on every back end: SQLite (a file) and PostgreSQL (a schema).

Each change bumps its kind's version and writes its audit entry in the same transaction; a change
that changes nothing, or is refused, writes neither.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from frisk.errors import NotFoundError
from frisk.policy import ListEntry, LivePolicy, NamedList, Rule, RuleSyntaxError, rule_variables
from frisk.store import SqlLedger, SqlListStore, SqlRuleStore, default_url, open_ledger

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
VARIABLES = rule_variables(None, extras={"txn_count_by_payer_1h": "number"})


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return default_url(tmp_path)
    found: str = request.getfixturevalue("postgres_url")
    return found


@pytest.fixture
def ledger(url: str) -> Iterator[SqlLedger]:
    store = open_ledger(url)
    yield store
    store.close()


def test_rule_changes_are_versioned_and_audited_with_the_change(ledger: SqlLedger) -> None:
    book = SqlRuleStore(ledger.engine)
    assert book.state() == (0, ())
    big = Rule("big", "amount > 5000", "review", 20, description="Large payments.")
    created = book.put(big, actor="alice", at=T0)
    assert created is not None
    assert (created.action, created.target, created.before) == ("rule.create", "rule:big", None)
    assert created.after == {**big.to_json(), "version": 1}
    assert book.put(big, actor="alice", at=T0) is None  # nothing changes: no version, no audit
    assert book.version == 1
    stricter = Rule("big", "amount > 3000", "block", 20)
    updated = book.put(stricter, actor="bob", at=T0 + timedelta(minutes=1))
    assert updated is not None
    assert updated.before == big.to_json()
    assert book.get("big") == stricter
    version, infos = book.describe()
    assert version == 2
    assert [(i.rule, i.updated_by, i.updated_at) for i in infos] == [
        (stricter, "bob", T0 + timedelta(minutes=1))
    ]
    book.remove("big", actor="carol", at=T0 + timedelta(minutes=2))
    with pytest.raises(NotFoundError):
        book.remove("big", actor="carol", at=T0)
    with pytest.raises(NotFoundError):
        book.get("big")
    assert ledger.policy_versions()["rules"] == 3

    log = ledger.audit_log(target="rule:big")
    assert [(e.actor, e.action) for e in log] == [
        ("carol", "rule.delete"),
        ("bob", "rule.update"),
        ("alice", "rule.create"),
    ]
    assert log[0].before == stricter.to_json()
    assert log[0].after is None
    assert log[0].at == T0 + timedelta(minutes=2)


def test_replace_all_is_one_version_with_an_entry_per_changed_rule(ledger: SqlLedger) -> None:
    book = SqlRuleStore(ledger.engine)
    book.put(Rule("a", "amount > 1", "tag"), actor="x", at=T0)
    book.put(Rule("b", "amount > 2", "tag"), actor="x", at=T0)
    records = book.replace_all(
        [Rule("b", "amount > 2", "tag"), Rule("c", "amount > 3", "review")], actor="ci", at=T0
    )
    assert [(r.action, r.target) for r in records] == [
        ("rule.delete", "rule:a"),
        ("rule.create", "rule:c"),
    ]
    assert book.state() == (3, (Rule("b", "amount > 2", "tag"), Rule("c", "amount > 3", "review")))
    assert book.replace_all(book.state()[1], actor="ci", at=T0) == []
    assert book.version == 3


def test_lists_with_expiry_round_trip(ledger: SqlLedger) -> None:
    store = SqlListStore(ledger.engine)
    store.create(NamedList("mules", "block", description="Mule accounts."), actor="a", at=T0)
    store.create(NamedList("vip", "allow", field="payer_id"), actor="a", at=T0)
    later = T0 + timedelta(days=1)
    store.add(
        "mules", [ListEntry("p1"), ListEntry("p2", later, "until tomorrow")], actor="a", at=T0
    )
    snap = store.snapshot()
    assert snap.version == 3
    assert snap.definitions["vip"] == NamedList("vip", "allow", field="payer_id")
    assert snap.at(T0).contains("mules", "p2")
    assert not snap.at(later).contains("mules", "p2")  # expired: never matches
    assert snap.at(later).contains("mules", "p1")
    assert snap.members(later) == {"mules": frozenset({"p1"}), "vip": frozenset()}
    assert store.entries("mules") == [ListEntry("p1"), ListEntry("p2", later, "until tomorrow")]

    renewed = store.add("mules", [ListEntry("p2")], actor="b", at=T0)  # renew: never expires
    assert renewed.before == {"entries": [ListEntry("p2", later, "until tomorrow").to_json()]}
    assert store.snapshot().at(later).contains("mules", "p2")

    info, page = store.page("mules", limit=1)
    assert (info.size, [e.value for e, _, _ in page]) == (2, ["p1"])
    _, rest = store.page("mules", limit=5, after="p1")
    assert [(e.value, who) for e, who, _ in rest] == [("p2", "b")]

    store.remove("mules", ["p1", "nope"], actor="c", at=T0)
    version = store.version
    with pytest.raises(NotFoundError):
        store.remove("mules", ["p1"], actor="c", at=T0)
    with pytest.raises(NotFoundError):
        store.add("ghost", [ListEntry("x")], actor="c", at=T0)
    assert store.version == version  # refused changes change nothing
    _, described = store.describe()
    assert [(i.spec.name, i.size) for i in described] == [("mules", 1), ("vip", 0)]

    dropped = store.drop("mules", actor="d", at=T0)
    assert dropped.before == {
        "name": "mules",
        "kind": "block",
        "field": None,
        "description": "Mule accounts.",
        "entries": 1,
    }
    with pytest.raises(NotFoundError):
        store.entries("mules")
    actions = [e.action for e in ledger.audit_log(target="list:mules")]
    assert actions == ["list.drop", "list.remove", "list.add", "list.add", "list.create"]
    assert [e.id for e in ledger.audit_log(limit=2)] == [e.id for e in ledger.audit_log(limit=2)]
    oldest = ledger.audit_log(limit=100)[-1]
    assert oldest.action == "list.create"
    assert ledger.audit_log(before=oldest.id) == []


def test_a_snapshot_since_an_earlier_one_rereads_only_changed_lists(ledger: SqlLedger) -> None:
    """``snapshot(since=...)`` equals a full read after any mix of changes, made by another
    store object (another instance), and keeps the unchanged lists' mappings as they were."""
    mine, theirs = SqlListStore(ledger.engine), SqlListStore(ledger.engine)
    for name in ("big", "small", "doomed", "renamed", "untouched"):
        mine.create(NamedList(name, "block"), actor="a", at=T0)
    mine.add("big", [ListEntry(f"card{i}") for i in range(2_000)], actor="a", at=T0)
    mine.add("small", [ListEntry("s1"), ListEntry("s2")], actor="a", at=T0)
    mine.add("doomed", [ListEntry("d1")], actor="a", at=T0)
    before = mine.snapshot()
    assert before.cursor is not None

    theirs.add("small", [ListEntry("s3", T0 + timedelta(days=1))], actor="b", at=T0)
    theirs.remove("small", ["s1"], actor="b", at=T0)
    theirs.add("small", [ListEntry("s2", T0 + timedelta(hours=1))], actor="b", at=T0)  # renewed
    theirs.add(
        "big", [ListEntry("card1", T0 + timedelta(days=2)), ListEntry("new")], actor="b", at=T0
    )
    theirs.remove("big", ["card7", "card8"], actor="b", at=T0)
    theirs.drop("doomed", actor="b", at=T0)
    theirs.create(NamedList("doomed", "allow"), actor="b", at=T0)  # same name, new list
    theirs.create(NamedList("renamed", "block", description="redefined"), actor="b", at=T0)
    theirs.create(NamedList("fresh", "block"), actor="b", at=T0)
    theirs.add("fresh", [ListEntry("f1")], actor="b", at=T0)

    incremental, full = mine.snapshot(since=before), mine.snapshot()
    assert incremental.version == full.version
    assert incremental.cursor == full.cursor
    assert incremental.definitions == full.definitions
    assert incremental.values == full.values
    assert incremental.values["small"] == {
        "s2": T0 + timedelta(hours=1),
        "s3": T0 + timedelta(days=1),
    }
    assert incremental.values["doomed"] == {}
    assert len(incremental.values["big"]) == 1_999
    assert incremental.values["big"]["card1"] == T0 + timedelta(days=2)
    assert before.values["big"]["card1"] is None  # the earlier snapshot is left as it was
    assert incremental.values["untouched"] is before.values["untouched"]  # not re-read
    assert mine.snapshot(since=full).values["big"] is full.values["big"]  # nothing changed
    mine.add("untouched", [ListEntry("u1")], actor="a", at=T0)
    assert mine.snapshot(since=full).values == mine.snapshot().values


def test_one_add_of_more_entries_than_a_statement_holds_parameters(ledger: SqlLedger) -> None:
    # 70,000 entries are 420,000 values: over SQLite's cap (32,766 in its default builds,
    # 250,000 in Debian's) and PostgreSQL's (65,535) had they gone into one statement.
    store = SqlListStore(ledger.engine)
    store.create(NamedList("cards", "block"), actor="a", at=T0)
    store.add("cards", [ListEntry(f"card{i:06d}") for i in range(70_000)], actor="a", at=T0)
    removed = store.remove("cards", [f"card{i:06d}" for i in range(0, 70_000, 2)], actor="a", at=T0)
    assert removed.before is not None
    assert len(removed.before["entries"]) == 35_000
    values = store.snapshot().values["cards"]
    assert len(values) == 35_000
    assert "card000001" in values
    assert "card000002" not in values


def test_a_refused_rule_writes_nothing_and_the_state_survives_a_restart(url: str) -> None:
    ledger = open_ledger(url)
    live = LivePolicy(VARIABLES, SqlRuleStore(ledger.engine), SqlListStore(ledger.engine))
    live.create_list(NamedList("mules", "block"), actor="a", at=T0)
    live.put_rule(Rule("mule", 'payee_id in blocklist("mules")', "block", 1), actor="a", at=T0)
    with pytest.raises(RuleSyntaxError):
        live.put_rule(Rule("bad", 'amount > "x"', "block"), actor="a", at=T0)
    with pytest.raises(Exception, match="mules"):
        live.drop_list("mules", actor="a", at=T0)  # a rule reads it
    assert [e.action for e in ledger.audit_log()] == ["rule.create", "list.create"]
    ledger.close()

    reopened = open_ledger(url)
    try:
        again = LivePolicy(VARIABLES, SqlRuleStore(reopened.engine), SqlListStore(reopened.engine))
        assert [c.rule.name for c in again.policy.rules] == ["mule"]
        assert (again.policy.version, again.policy.lists.version) == (1, 1)
    finally:
        reopened.close()


def test_another_process_change_is_picked_up_by_sync(url: str) -> None:
    first, second = open_ledger(url), open_ledger(url)
    try:
        a = LivePolicy(VARIABLES, SqlRuleStore(first.engine), SqlListStore(first.engine))
        b = LivePolicy(VARIABLES, SqlRuleStore(second.engine), SqlListStore(second.engine))
        a.put_rule(Rule("big", "amount > 10", "block"), actor="a", at=T0)
        assert b.policy.rules == ()
        assert b.sync()
        assert [c.rule.name for c in b.policy.rules] == ["big"]
        assert not b.sync()
        decision = b.decide({"amount": 20.0}, {}, 0.1, "low", "allow", T0)
        assert (decision.action, decision.decided_by_name, b.hits["big"]) == ("block", "big", 1)
    finally:
        first.close()
        second.close()


def test_concurrent_changes_lose_nothing(ledger: SqlLedger) -> None:
    book = SqlRuleStore(ledger.engine)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(5):
                book.put(Rule(f"r{i}_{j}", f"amount > {j}", "tag"), actor=f"w{i}", at=T0)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    version, stored = book.state()
    assert (version, len(stored)) == (20, 20)
    after_versions = sorted(e.after["version"] for e in ledger.audit_log(limit=100) if e.after)
    assert after_versions == list(range(1, 21))  # each change saw the one before it


def test_list_changes_reach_snapshots_under_a_natural_language_collation(
    postgres_url: str,
) -> None:
    """Many PostgreSQL databases sort text by ICU or glibc rules (initdb takes the OS locale),
    under which ";" sorts before ":": list changes must still be found there."""
    ledger = open_ledger(postgres_url)
    try:
        with ledger.engine.begin() as conn:
            conn.exec_driver_sql(
                'ALTER TABLE audit_log ALTER COLUMN target TYPE varchar(256) COLLATE "und-x-icu"'
            )
        store = SqlListStore(ledger.engine)
        store.create(NamedList("cards", "block"), actor="a", at=T0)
        store.add("cards", [ListEntry("4111")], actor="a", at=T0)
        before = store.snapshot()
        store.add("cards", [ListEntry("5500")], actor="a", at=T0)
        store.remove("cards", ["4111"], actor="a", at=T0)
        assert (
            store.snapshot(since=before).values
            == store.snapshot().values
            == {"cards": {"5500": None}}
        )
    finally:
        ledger.close()
