"""Rule sets: YAML rules-as-code, versions and audit records, changes without a restart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from frisk.errors import NotFoundError
from frisk.policy import (
    ListEntry,
    LivePolicy,
    NamedList,
    Rule,
    RuleError,
    RuleSyntaxError,
    load_rules,
    rule_variables,
    rules_to_yaml,
)

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
FIELDS = {"amount": 6000.0, "payer_id": "p1", "payee_id": "q1"}
RULES_YAML = """
rules:
  - name: mule_payees
    expression: payee_id in blocklist("mules")
    action: block
    priority: 10
    description: Known mule accounts.
  - name: big_first_payee
    expression: amount > 5000
    action: review
    priority: 20
    mode: shadow
"""


def live() -> LivePolicy:
    policy = LivePolicy(rule_variables())
    policy.create_list(NamedList("mules", "block"), actor="ana", at=NOW)
    return policy


def test_rules_file_loads_with_defaults_and_round_trips() -> None:
    rules = load_rules(RULES_YAML, "rules.yaml")
    assert rules[0] == Rule(
        "mule_payees",
        'payee_id in blocklist("mules")',
        "block",
        10,
        "active",
        "Known mule accounts.",
    )
    assert rules[1].mode == "shadow"
    assert load_rules(rules_to_yaml(rules)) == rules
    with pytest.raises(RuleError, match=r"rules.yaml: rule 1 \(x\): missing expression"):
        load_rules("- name: x\n  action: block\n", "rules.yaml")
    with pytest.raises(RuleError, match="unknown key"):
        load_rules("- {name: x, expression: 'amount > 1', action: block, when: now}\n")
    with pytest.raises(RuleError, match="appears twice"):
        load_rules("- {name: x, expression: 'amount > 1', action: block}\n" * 2)


def test_every_change_is_a_new_version_with_an_audit_record() -> None:
    policy = live()
    records = policy.load_rules(RULES_YAML, source="rules.yaml", actor="ci", at=NOW)
    assert [(r.action, r.target) for r in records] == [
        ("rule.create", "rule:big_first_payee"),
        ("rule.create", "rule:mule_payees"),
    ]
    assert policy.policy.version == 1
    changed = Rule("big_first_payee", "amount > 9000", "review", 20, "active")
    (update,) = policy.put_rule(changed, actor="bo", at=NOW)
    assert update.action == "rule.update"
    assert update.before is not None
    assert update.before["expression"] == "amount > 5000"
    assert update.after == {**changed.to_json(), "version": 2}
    assert policy.put_rule(changed, actor="bo", at=NOW) == []  # no change, no version
    (removal,) = policy.remove_rule("mule_payees", actor="bo", at=NOW)
    assert (removal.action, removal.after) == ("rule.delete", None)
    assert policy.policy.version == 3
    assert [c.rule.name for c in policy.policy.rules] == ["big_first_payee"]
    with pytest.raises(NotFoundError):
        policy.remove_rule("mule_payees", actor="bo", at=NOW)


def test_a_bad_change_is_refused_and_the_running_policy_kept() -> None:
    policy = live()
    policy.load_rules(RULES_YAML, source="rules.yaml", actor="ci", at=NOW)
    before = policy.policy
    with pytest.raises(RuleSyntaxError, match="1:9"):
        policy.put_rule(Rule("broken", "amount >", "block"), actor="bo", at=NOW)
    with pytest.raises(RuleSyntaxError, match="no list named 'mules'"):
        policy.drop_list("mules", actor="bo", at=NOW)  # a rule still reads it
    assert policy.policy is before
    assert policy.book.version == 1


def test_list_changes_take_effect_on_the_next_decision() -> None:
    policy = live()
    policy.load_rules(RULES_YAML, source="rules.yaml", actor="ci", at=NOW)
    assert policy.decide(FIELDS, {}, 0.1, "low", "allow", NOW).action == "allow"
    policy.add_entries("mules", [ListEntry("q1")], actor="bo", at=NOW)
    decision = policy.decide(FIELDS, {}, 0.1, "low", "allow", NOW)
    assert (decision.action, decision.decider, decision.lists_version) == (
        "block",
        "mule_payees",
        2,
    )


def test_each_match_is_counted_and_handed_to_on_hit() -> None:
    policy = live()
    policy.load_rules(RULES_YAML, source="rules.yaml", actor="ci", at=NOW)
    policy.add_entries("mules", [ListEntry("q1")], actor="bo", at=NOW)
    handed: list[str] = []
    policy.decide(FIELDS, {}, 0.1, "low", "allow", NOW)  # before on_hit: counted only
    policy.on_hit = handed.append
    decision = policy.decide(FIELDS, {}, 0.1, "low", "allow", NOW)
    matched = [m.rule for m in decision.matches]
    assert "mule_payees" in matched
    assert handed == matched
    assert policy.hits["mule_payees"] == 2


def test_hot_reload_under_load_drops_nothing_and_mixes_no_versions() -> None:
    """Deciders run while rule sets are swapped: no error, each decision from one version."""
    policy = live()
    policy.add_entries("mules", [ListEntry("q1")], actor="bo", at=NOW)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[tuple[int, str, tuple[str, ...]]] = []

    def decider() -> None:
        try:
            while not stop.is_set():
                d = policy.decide(FIELDS, {}, 0.1, "low", "allow", NOW)
                seen.append((d.rules_version, d.action, tuple(m.rule for m in d.matches)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=decider) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        # Odd versions block with rule "v<i>", even ones hold only a review rule.
        action = "block" if i % 2 == 0 else "review"
        rule = Rule(f"v{i}", "amount > 1", action)
        policy.load_rules(rules_to_yaml([rule]), source="x", actor="ci", at=NOW)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(seen) > 100
    for version, action, matched in seen:
        if version == 0:
            assert matched == ()
            continue
        assert matched == (f"v{version - 1}",)
        assert action == ("block" if (version - 1) % 2 == 0 else "review")


def test_a_change_that_cannot_take_effect_here_is_refused_before_it_is_stored() -> None:
    """Another process stored rules this model cannot compile: list entry changes through this
    policy are refused and nothing is stored (rather than stored and then reported as failed);
    rules can still be removed, one culprit after another, since that cannot make it worse."""
    policy = live()
    policy.put_rule(Rule("big", "amount > 5000", "review"), actor="ana", at=NOW)
    policy.book.put(Rule("foreign", "mystery_score > 1", "tag"), actor="other", at=NOW)
    policy.book.put(Rule("foreign2", "other_score > 1", "tag"), actor="other", at=NOW)
    book_version, store_version = policy.book.version, policy.store.version
    with pytest.raises(RuleSyntaxError, match="mystery_score"):
        policy.add_entries("mules", [ListEntry("q9")], actor="ana", at=NOW)
    with pytest.raises(RuleSyntaxError, match="mystery_score"):
        policy.remove_entries("mules", ["q9"], actor="ana", at=NOW)
    assert (policy.book.version, policy.store.version) == (book_version, store_version)
    assert policy.store.entries("mules") == []
    with pytest.raises(NotFoundError):
        policy.remove_rule("nope", actor="ana", at=NOW)
    policy.remove_rule("foreign", actor="ana", at=NOW)  # foreign2 still does not compile
    assert [c.rule.name for c in policy.policy.rules] == ["big"]  # deciding on as before
    policy.remove_rule("foreign2", actor="ana", at=NOW)
    policy.add_entries("mules", [ListEntry("q9")], actor="ana", at=NOW)
    assert [e.value for e in policy.store.entries("mules")] == ["q9"]
    assert policy.policy.version == policy.book.version  # caught up
    reader = Rule("reader", 'payee_id in blocklist("mules")', "block")
    policy.put_rule(reader, actor="ana", at=NOW)
    with pytest.raises(RuleError):  # a change that breaks what compiles is still refused
        policy.drop_list("mules", actor="ana", at=NOW)
