"""Policy order, shadow rules, tags, and one decision == the vectorised decision of a frame."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from frisk.policy import (
    ListEntry,
    MemoryListStore,
    NamedList,
    Policy,
    Rule,
    RuleError,
    RuleSyntaxError,
    rule_variables,
)

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
VARS = rule_variables(extras={"txn_count_by_payer_1h": "number"})
FIELDS = {"amount": 6000.0, "payer_id": "p1", "payee_id": "q1", "device_id": "d1"}


def lists() -> MemoryListStore:
    store = MemoryListStore()
    store.create(NamedList("vip_payers", "allow", field="payer_id"), actor="a", at=NOW)
    store.create(NamedList("bad_devices", "block", field="device_id"), actor="a", at=NOW)
    store.create(NamedList("mules", "block"), actor="a", at=NOW)
    return store


def decide(policy: Policy, **fields: Any) -> Any:
    return policy.decide(
        {**FIELDS, **fields}, {"txn_count_by_payer_1h": 3.0}, 0.2, "medium", "allow", NOW
    )


def test_rules_by_priority_then_the_model() -> None:
    rules = [
        Rule("big_review", "amount > 5000", "review", priority=20),
        Rule("big_block", "amount > 5000", "block", priority=10),
        Rule("small_allow", "amount < 10", "allow", priority=5),
    ]
    policy = Policy(rules, VARS, lists().snapshot())
    decision = decide(policy)
    assert (decision.action, decision.decided_by, decision.decider) == (
        "block",
        "rule",
        "big_block",
    )
    assert [m.rule for m in decision.matches] == ["big_block", "big_review"]
    assert decision.matches[0].values == {"amount": 6000.0}
    quiet = decide(policy, amount=100.0)
    assert (quiet.action, quiet.decided_by, quiet.decider) == ("allow", "model", None)
    model_block = policy.decide(FIELDS | {"amount": 100.0}, {}, 0.99, "critical", "block", NOW)
    assert (model_block.action, model_block.decided_by) == ("block", "model")
    # An allow rule overrides the model: rules come before thresholds.
    trusted = policy.decide(FIELDS | {"amount": 5.0}, {}, 0.99, "critical", "block", NOW)
    assert (trusted.action, trusted.decider) == ("allow", "small_allow")


def test_hard_lists_come_first_block_before_allow() -> None:
    store = lists()
    store.add("vip_payers", [ListEntry("p1")], actor="a", at=NOW)
    policy = Policy([Rule("r", "amount > 5000", "block")], VARS, store.snapshot())
    vip = decide(policy)
    assert (vip.action, vip.decided_by, vip.decider) == ("allow", "list", "vip_payers")
    assert [m.rule for m in vip.matches] == ["r"]  # still evaluated and recorded
    store.add("bad_devices", [ListEntry("d1")], actor="a", at=NOW)
    both = decide(Policy([], VARS, store.snapshot()))
    assert (both.action, both.decider, both.lists) == (
        "block",
        "bad_devices",
        ("bad_devices", "vip_payers"),
    )


def test_shadow_rules_are_recorded_but_never_change_the_action() -> None:
    shadow = Rule("would_block", "amount > 5000", "block", priority=1, mode="shadow")
    shadow_tag = Rule("would_tag", "amount > 5000", "tag", mode="shadow")
    without = decide(Policy([], VARS))
    with_shadow = decide(Policy([shadow, shadow_tag], VARS))
    assert with_shadow.action == without.action == "allow"
    assert with_shadow.decided_by == "model"
    assert with_shadow.tags == ()
    assert [(m.rule, m.mode) for m in with_shadow.shadow_matches] == [
        ("would_block", "shadow"),
        ("would_tag", "shadow"),
    ]


def test_tags_never_decide() -> None:
    rules = [
        Rule("first_tag", "amount > 1", "tag", priority=1),
        Rule("review_big", "amount > 5000", "review", priority=2),
    ]
    decision = decide(Policy(rules, VARS))
    assert decision.tags == ("first_tag",)
    assert (decision.action, decision.decider) == ("review", "review_big")


def test_a_bad_rule_is_refused_naming_the_rule() -> None:
    with pytest.raises(RuleSyntaxError, match="rule 'typo': unknown name 'amout'"):
        Policy([Rule("typo", "amout > 1", "block")], VARS)
    with pytest.raises(RuleError, match="action 'deny'"):
        Rule("x", "amount > 1", "deny")  # type: ignore[arg-type]
    store = MemoryListStore()
    store.create(NamedList("amounts", "block", field="amount"), actor="a", at=NOW)
    with pytest.raises(RuleError, match="not a text field"):
        Policy([], VARS, store.snapshot())


def test_decide_equals_decide_many_row_by_row() -> None:
    rng = random.Random(7)
    store = lists()
    store.add("vip_payers", [ListEntry("p1")], actor="a", at=NOW)
    store.add("bad_devices", [ListEntry("d2", NOW + timedelta(hours=1))], actor="a", at=NOW)
    store.add("mules", [ListEntry("q3"), ListEntry("q2", NOW - timedelta(1))], actor="a", at=NOW)
    rules = [
        Rule("mule", 'payee_id in blocklist("mules")', "block", priority=5),
        Rule("burst", "txn_count_by_payer_1h > 3 && amount > 100", "review", priority=10),
        Rule("tiny", "amount < 5", "allow", priority=20),
        Rule("shadow_all", "amount > 0", "block", priority=1, mode="shadow"),
        Rule("hi_score", 'score > 0.5 || tier == "critical"', "review", priority=30),
        Rule("tagged", "missing(device_id)", "tag"),
    ]
    policy = Policy(rules, VARS, store.snapshot())
    records = []
    for _ in range(500):
        records.append(
            {
                "amount": rng.choice([1.0, 50.0, 150.0, 9000.0]),
                "payer_id": rng.choice(["p1", "p2", "p3"]),
                "payee_id": rng.choice(["q1", "q2", "q3"]),
                "device_id": rng.choice(["d1", "d2", None]),
                "txn_count_by_payer_1h": rng.choice([0.0, 5.0, float("nan"), None]),
                "score": rng.random(),
                "tier": rng.choice(["low", "critical"]),
                "model_action": rng.choice(["allow", "review", "block"]),
            }
        )
    frame = pl.DataFrame(records, schema_overrides={"device_id": pl.String})
    many = policy.decide_many(frame, NOW)
    for record, row in zip(records, many.iter_rows(named=True), strict=True):
        fields = {k: record[k] for k in ("amount", "payer_id", "payee_id", "device_id")}
        one = policy.decide(
            fields,
            {"txn_count_by_payer_1h": record["txn_count_by_payer_1h"]},
            record["score"],
            record["tier"],
            record["model_action"],
            NOW,
        )
        assert (one.action, one.decided_by, one.decider) == (
            row["action"],
            row["decided_by"],
            row["decider"],
        ), record
