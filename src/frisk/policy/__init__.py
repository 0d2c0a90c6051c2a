"""Policy: rules in a checked subset of CEL, allow and block lists, and the decision order.

    live = LivePolicy(rule_variables(catalogue))                 # what a service holds
    live.load_rules(Path("rules.yaml").read_text(), source="rules.yaml", actor="ci", at=now)
    decision = live.decide(fields, features, score, tier, model_action, now)
    decision.action, decision.decided_by, decision.matches       # and shadow rules in matches

Order: hard lists, then active rules by priority, then the model's thresholds (``decision``).
The language and its missing-value semantics are in ``language``; ``online`` evaluates a rule per
decision, ``vectorised`` over a frame for ``backtest``, with the same result row by row.
"""

from __future__ import annotations

from frisk.policy.audit import AuditRecord
from frisk.policy.backtest import BacktestReport, backtest, backtest_frame, reports_table
from frisk.policy.decision import CompiledRule, Policy, PolicyDecision, RuleMatch
from frisk.policy.errors import RuleError, RuleSyntaxError
from frisk.policy.language import parse_rule
from frisk.policy.lists import (
    ListEntry,
    ListKind,
    ListSnapshot,
    ListStore,
    MemoryListStore,
    NamedList,
    read_entries,
)
from frisk.policy.live import LivePolicy
from frisk.policy.rules import Rule, RuleBook, RuleStore, load_rules, rules_to_yaml
from frisk.policy.variables import rule_variables, variables_of_frame

__all__ = [
    "AuditRecord",
    "BacktestReport",
    "CompiledRule",
    "ListEntry",
    "ListKind",
    "ListSnapshot",
    "ListStore",
    "LivePolicy",
    "MemoryListStore",
    "NamedList",
    "Policy",
    "PolicyDecision",
    "Rule",
    "RuleBook",
    "RuleError",
    "RuleMatch",
    "RuleStore",
    "RuleSyntaxError",
    "backtest",
    "backtest_frame",
    "load_rules",
    "parse_rule",
    "read_entries",
    "reports_table",
    "rule_variables",
    "rules_to_yaml",
    "variables_of_frame",
]
