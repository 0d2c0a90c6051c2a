"""The review queue on every ledger back end: listing, paging, transitions, history, audit."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from frisk.errors import ConflictError, InvalidEventError, NotFoundError
from frisk.store import (
    ReviewAction,
    ReviewChange,
    ReviewFilter,
    ReviewStatus,
    ReviewStore,
    SqlLedger,
    default_url,
    open_ledger,
    tables,
)

from .test_ledger_contract import decision

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
ALL = frozenset(ReviewStatus)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    if request.param == "sqlite":
        url = default_url(tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
    store = open_ledger(url)
    yield store
    store.close()


@pytest.fixture
def reviews(ledger: SqlLedger) -> ReviewStore:
    return ledger.reviews


def review(
    ledger: SqlLedger,
    txn: str,
    score: float,
    *,
    action: str = "review",
    tier: str = "high",
    payer: str = "payer-1",
    payee: str = "payee-1",
    minutes: float = 0,
) -> None:
    at = T0 + timedelta(minutes=minutes)
    body: dict[str, Any] = {
        "transaction_id": txn,
        "amount": 10.0 + score,
        "currency": "EUR",
        "payer_id": payer,
        "payee_id": payee,
    }
    ledger.record_decision(
        decision(
            txn,
            score=score,
            action=action,
            tier=tier,
            transaction=body,
            event_time=at,
            created_at=at + timedelta(seconds=1),
        )
    )


def ids(page: Any) -> list[str]:
    return [i.transaction_id for i in page.items]


def test_the_queue_is_review_decisions_by_score(ledger: SqlLedger, reviews: ReviewStore) -> None:
    review(ledger, "a", 0.7)
    review(ledger, "b", 0.9, tier="critical")
    review(ledger, "c", 0.7)  # ties with a: by id
    review(ledger, "x", 0.99, action="block")
    page = reviews.page(ReviewFilter(), now=NOW)
    assert ids(page) == ["b", "a", "c"]
    assert (page.total, page.next_cursor) == (3, None)
    first = page.items[0]
    assert (first.amount, first.currency, first.payer_id, first.payee_id) == (
        10.9,
        "EUR",
        "payer-1",
        "payee-1",
    )
    assert (first.status, first.version, first.assignee) == (ReviewStatus.OPEN, 0, None)
    assert reviews.get("x") is None
    assert reviews.get("missing") is None
    tiers = reviews.page(ReviewFilter(tiers=frozenset({"critical"})), now=NOW)
    assert ids(tiers) == ["b"]


def test_filters_by_status_assignee_and_age(ledger: SqlLedger, reviews: ReviewStore) -> None:
    review(ledger, "old", 0.5, minutes=0)
    review(ledger, "new", 0.6, minutes=600)
    review(ledger, "done", 0.7, minutes=10)
    reviews.change("new", ReviewChange(ReviewAction.ASSIGN, assignee="ann"), actor="x", at=NOW)
    reviews.change(
        "done", ReviewChange(ReviewAction.RESOLVE, resolution="legit"), actor="x", at=NOW
    )
    assert ids(reviews.page(ReviewFilter(), now=NOW)) == ["new", "old"]
    only = ReviewFilter(statuses=frozenset({ReviewStatus.RESOLVED}))
    assert ids(reviews.page(only, now=NOW)) == ["done"]
    assert ids(reviews.page(ReviewFilter(assignee="ann"), now=NOW)) == ["new"]
    # "old" was decided 24 h before NOW, "new" 14 h before.
    older = ReviewFilter(min_age=timedelta(hours=20))
    assert ids(reviews.page(older, now=NOW)) == ["old"]
    younger = ReviewFilter(statuses=ALL, max_age=timedelta(hours=20))
    assert ids(reviews.page(younger, now=NOW)) == ["new"]


def test_pages_neither_repeat_nor_skip_while_decisions_arrive(
    ledger: SqlLedger, reviews: ReviewStore
) -> None:
    for i in range(10):
        review(ledger, f"r{i}", 0.5 + i / 100)
    seen: list[str] = []
    cursor = None
    extra = itertools.count()
    while True:
        page = reviews.page(ReviewFilter(), now=NOW, limit=3, cursor=cursor)
        seen += ids(page)
        # New reviews above and below the cursor, and one at exactly its score.
        for score in (0.99, 0.01, page.items[-1].score):
            review(ledger, f"late{next(extra)}", score)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    originals = [f"r{i}" for i in range(9, -1, -1)]
    assert [s for s in seen if s.startswith("r")] == originals
    assert len(seen) == len(set(seen))


def test_a_bad_cursor_is_an_input_error(reviews: ReviewStore) -> None:
    for bad in ("nope", "W10", "WzEsMl0"):  # not base64 JSON; []; [1, 2]
        with pytest.raises(InvalidEventError, match="cursor"):
            reviews.page(ReviewFilter(), now=NOW, cursor=bad)


def test_changes_are_versioned_audited_and_resolve_labels(
    ledger: SqlLedger, reviews: ReviewStore
) -> None:
    review(ledger, "t", 0.8)
    got = reviews.change(
        "t", ReviewChange(ReviewAction.ASSIGN, assignee="ann", version=0), actor="lead", at=NOW
    )
    assert (got.review.status, got.review.assignee, got.review.version) == (
        ReviewStatus.ASSIGNED,
        "ann",
        1,
    )
    assert got.label is None
    with pytest.raises(ConflictError, match="version 1, not 0"):
        reviews.change("t", ReviewChange(ReviewAction.UNASSIGN, version=0), actor="x", at=NOW)
    with pytest.raises(ConflictError, match="cannot be reopened"):
        reviews.change("t", ReviewChange(ReviewAction.REOPEN), actor="x", at=NOW)
    done = reviews.change(
        "t",
        ReviewChange(ReviewAction.RESOLVE, resolution="fraud", note="card stolen", version=1),
        actor="ann",
        at=NOW,
    )
    assert (done.review.status, done.review.resolution, done.review.note) == (
        ReviewStatus.RESOLVED,
        "fraud",
        "card stolen",
    )
    assert done.review.resolved_at == NOW
    assert done.label is not None
    label = ledger.get_label("t")
    assert label is not None
    assert (label.label, label.source, label.updated_by, label.label_timestamp) == (
        "fraud",
        "review",
        "ann",
        NOW,
    )
    audit = ledger.audit_log(target="review:t")
    assert [(e.action, e.actor) for e in audit] == [
        ("review.resolve", "ann"),
        ("review.assign", "lead"),
    ]
    assert audit[0].before == {
        "status": "assigned",
        "assignee": "ann",
        "resolution": None,
        "version": 1,
    }
    assert audit[0].after is not None
    assert audit[0].after["status"] == "resolved"
    assert audit[0].after["note"] == "card stolen"
    with pytest.raises(NotFoundError):
        reviews.change("nope", ReviewChange(ReviewAction.REOPEN), actor="x", at=NOW)
    with pytest.raises(InvalidEventError, match="resolution"):
        reviews.change("t", ReviewChange(ReviewAction.RESOLVE), actor="x", at=NOW)


def test_party_history_newest_first_with_labels(ledger: SqlLedger, reviews: ReviewStore) -> None:
    for i in range(5):
        review(ledger, f"h{i}", 0.1 * i, action="allow", payer="p", payee=f"m{i % 2}", minutes=i)
    review(ledger, "other", 0.5, payer="q", payee="m0", minutes=9)
    ledger.set_label("h3", "fraud", label_timestamp=NOW, source="chargeback", actor="x")
    payer = reviews.history(payer_id="p")
    assert [h.transaction_id for h in payer] == ["h4", "h3", "h2", "h1", "h0"]
    assert payer[1].label == "fraud"
    assert payer[0].amount == pytest.approx(10.4)
    assert [h.transaction_id for h in reviews.history(payee_id="m0", limit=2)] == ["other", "h4"]
    before = reviews.history(payer_id="p", before=T0 + timedelta(minutes=1))
    assert [h.transaction_id for h in before] == ["h1", "h0"]


# -- the state machine -----------------------------------------------------------------------

_ALLOWED = {
    ReviewAction.ASSIGN: {ReviewStatus.OPEN, ReviewStatus.ASSIGNED},
    ReviewAction.UNASSIGN: {ReviewStatus.ASSIGNED},
    ReviewAction.RESOLVE: {ReviewStatus.OPEN, ReviewStatus.ASSIGNED},
    ReviewAction.REOPEN: {ReviewStatus.RESOLVED},
}
_runs = itertools.count()


class ReviewMachine(RuleBasedStateMachine):
    """Random changes to two reviews against a model of the states; stale versions included."""

    ledger: SqlLedger

    @initialize()
    def start(self) -> None:
        self.store = self.ledger.reviews
        run = next(_runs)
        self.ids = [f"m{run}-a", f"m{run}-b"]
        for i, txn in enumerate(self.ids):
            review(self.ledger, txn, 0.6 + i / 10)
        self.model = dict.fromkeys(self.ids, (ReviewStatus.OPEN, None, None, 0))
        self.changes = dict.fromkeys(self.ids, 0)
        self.clock = NOW

    @rule(
        which=st.integers(0, 1),
        action=st.sampled_from(list(ReviewAction)),
        assignee=st.sampled_from(["ann", "bob"]),
        resolution=st.sampled_from(["fraud", "legit"]),
        stale=st.booleans(),
    )
    def change(
        self, which: int, action: ReviewAction, assignee: str, resolution: str, stale: bool
    ) -> None:
        txn = self.ids[which]
        status, who, outcome, version = self.model[txn]
        self.clock += timedelta(seconds=1)
        sent = ReviewChange(
            action,
            assignee=assignee,
            resolution=resolution,
            note=f"{action.value} by machine",
            version=version + 1 if stale else version,
        )
        if stale or status not in _ALLOWED[action]:
            with pytest.raises(ConflictError):
                self.store.change(txn, sent, actor="m", at=self.clock)
            return
        got = self.store.change(txn, sent, actor="m", at=self.clock).review
        if action is ReviewAction.ASSIGN:
            status, who = ReviewStatus.ASSIGNED, assignee
        elif action is ReviewAction.UNASSIGN:
            status, who = ReviewStatus.OPEN, None
        elif action is ReviewAction.RESOLVE:
            status, outcome = ReviewStatus.RESOLVED, resolution
        else:
            status, who, outcome = ReviewStatus.OPEN, None, None
        self.model[txn] = (status, who, outcome, version + 1)
        self.changes[txn] += 1
        assert (got.status, got.assignee, got.resolution, got.version) == self.model[txn]

    @precondition(lambda self: hasattr(self, "store"))
    @invariant()
    def store_agrees_with_the_model(self) -> None:
        for txn in self.ids:
            got = self.store.get(txn)
            assert got is not None
            assert (got.status, got.assignee, got.resolution, got.version) == self.model[txn]
            assert len(self.ledger.audit_log(target=f"review:{txn}")) == self.changes[txn]
            label = self.ledger.get_label(txn)
            resolved = self.model[txn][2]
            if resolved is not None:  # the label is the latest resolution
                assert label is not None
                assert label.label == resolved
        listed = self.store.page(ReviewFilter(statuses=ALL), now=NOW, limit=500)
        mine = {i.transaction_id: i.status for i in listed.items if i.transaction_id in self.ids}
        assert mine == {txn: self.model[txn][0] for txn in self.ids}


def test_review_transitions_state_machine(ledger: SqlLedger) -> None:
    machine = type("Machine", (ReviewMachine,), {"ledger": ledger})
    run_state_machine_as_test(
        machine, settings=settings(max_examples=25, stateful_step_count=12, deadline=None)
    )


@pytest.mark.parametrize("first", [True, False])
def test_a_concurrent_change_is_a_conflict(
    ledger: SqlLedger, reviews: ReviewStore, first: bool
) -> None:
    review(ledger, "t", 0.8)
    if not first:
        reviews.change("t", ReviewChange(ReviewAction.ASSIGN, assignee="ann"), actor="a", at=NOW)
    fired: list[bool] = []

    # Another writer changes the review between this change's read and its write.
    def meanwhile(conn: sa.Connection, clause: object, *_: object) -> None:
        ours = isinstance(clause, sa.Insert | sa.Update) and clause.table is tables.reviews
        if ours and not fired:
            fired.append(True)
            other = {"status": "assigned", "updated_by": "z", "updated_at": NOW, "version": 2}
            if first:
                conn.execute(tables.reviews.insert().values(transaction_id="t", **other))
            else:
                conn.execute(tables.reviews.update().values(**other))

    sa.event.listen(ledger.engine, "before_execute", meanwhile)
    try:
        with pytest.raises(ConflictError):
            reviews.change(
                "t", ReviewChange(ReviewAction.RESOLVE, resolution="fraud"), actor="b", at=NOW
            )
    finally:
        sa.event.remove(ledger.engine, "before_execute", meanwhile)
    assert fired
    assert ledger.get_label("t") is None  # the resolution rolled back, its label with it
