"""``Policy``: hard lists, then rules by priority, then the model's thresholds.

The order, for one transaction:

1. Hard lists (lists with a ``field``): block lists first, then allow lists; the first list
   holding the transaction's value of its field decides.
2. Active rules by ascending priority (ties by name): the first matching ``block``, ``review`` or
   ``allow`` rule decides; ``tag`` rules add their name to ``tags`` and never decide.
3. The model's action from its thresholds.

Every rule, active or shadow, is evaluated on every decision; every one that matched is recorded
with the values it read, whichever step decided. Shadow rules never change the action or tags.
``decide`` is the live path; ``decide_many`` is the same order over a whole frame (backtests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import polars as pl

from frisk.policy.errors import RuleError, RuleSyntaxError
from frisk.policy.language import parse_rule
from frisk.policy.lists import ListSnapshot, NamedList
from frisk.policy.nodes import Node, Type, variables_of
from frisk.policy.online import Membership, compile_online
from frisk.policy.rules import Rule
from frisk.policy.vectorised import to_polars

__all__ = ["CompiledRule", "Policy", "PolicyDecision", "RuleMatch"]

_RULE = "__rule__"
_SHADOW, _TAGS, _DECIDES = 0, 1, 2


def _role(rule: Rule) -> int:
    if rule.mode != "active":
        return _SHADOW
    return _TAGS if rule.action == "tag" else _DECIDES


class RuleMatch(NamedTuple):
    """A rule that matched, with the values of the variables it read (None: missing).

    A named tuple rather than a frozen dataclass: one is made per matching rule per decision,
    and a frozen dataclass's ``__init__`` costs over twice as much (~1.2 µs against ~0.5 µs).
    """

    rule: str
    action: str
    mode: str
    priority: int
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What the policy decided and why.

    ``decided_by`` is ``list``, ``rule`` or ``model``; ``decider`` the list or rule name (None
    for the model). ``matches`` holds every rule that matched, shadow ones included, in
    evaluation order; ``lists`` every hard list that held the transaction.
    """

    action: str
    decided_by: str
    decider: str | None
    matches: tuple[RuleMatch, ...]
    tags: tuple[str, ...]
    lists: tuple[str, ...]
    model_action: str
    rules_version: int
    lists_version: int

    @property
    def shadow_matches(self) -> tuple[RuleMatch, ...]:
        return tuple(m for m in self.matches if m.mode == "shadow")

    @property
    def decided_by_name(self) -> str:
        """Who decided, as one string: the rule's name, ``list:<name>`` or ``model``."""
        if self.decided_by == "rule":
            return self.decider or "model"
        return f"list:{self.decider}" if self.decided_by == "list" else "model"

    def sentence(self) -> str:
        """Why the policy, not the model, decided: a reason an analyst can read."""
        if self.decided_by == "list":
            return (
                f"on the {self.action} list {self.decider!r} "
                f"(the model alone would {self.model_action})"
            )
        if self.decided_by == "rule":
            read = next((m.values for m in self.matches if m.rule == self.decider), {})
            shown = ", ".join(f"{k} = {_shown(v)}" for k, v in read.items())
            return (
                f"rule {self.decider!r} says {self.action} (the model alone would "
                f"{self.model_action})" + (f": {shown}" if shown else "")
            )
        return f"the model's thresholds: {self.action}"

    def to_json(self) -> dict[str, Any]:
        """What a decision records (the ledger's ``decisions.policy``) and the API returns."""
        return {
            "decided_by": self.decided_by_name,
            "action": self.action,
            "model_action": self.model_action,
            "matched": [
                {"rule": m.rule, "action": m.action, "mode": m.mode, "values": dict(m.values)}
                for m in self.matches
            ],
            "tags": list(self.tags),
            "lists": list(self.lists),
            "rules_version": self.rules_version,
            "lists_version": self.lists_version,
        }


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    node: Node
    test: Callable[[Mapping[str, Any], Membership], bool]
    reads: tuple[str, ...]

    @property
    def decides(self) -> bool:
        return self.rule.mode == "active" and self.rule.action != "tag"


class Policy:
    """A compiled rule set with its lists; immutable, so swapping one in is a hot reload."""

    def __init__(
        self,
        rules: Iterable[Rule],
        variables: Mapping[str, Type],
        lists: ListSnapshot | None = None,
        *,
        version: int = 0,
    ) -> None:
        self.lists = lists if lists is not None else ListSnapshot()
        self.version = version
        self.variables = dict(variables)
        ordered = sorted(rules, key=lambda r: (r.priority, r.name))
        self.rules: tuple[CompiledRule, ...] = tuple(self._compile(r) for r in ordered)
        # What the per-decision loop reads, flattened: attribute lookups cost more than the tests.
        self._loop = tuple(
            (
                c.test,
                c.reads,
                c.rule.name,
                c.rule.action,
                c.rule.mode,
                c.rule.priority,
                _role(c.rule),
            )
            for c in self.rules
        )
        self._hard: tuple[NamedList, ...] = tuple(self.lists.hard_lists())
        for spec in self._hard:
            if self.variables.get(spec.field or "") != "string":
                raise RuleError(
                    f"hard list {spec.name!r}: field {spec.field!r} is not a text field rules know"
                )

    def _compile(self, rule: Rule) -> CompiledRule:
        try:
            node = parse_rule(rule.expression, self.variables, self.lists.kinds)
        except RuleSyntaxError as exc:
            raise RuleSyntaxError(
                exc.expression, exc.line, exc.column, f"rule {rule.name!r}: {exc.reason}"
            ) from None
        return CompiledRule(rule, node, compile_online(node), variables_of(node))

    # -- one decision ----------------------------------------------------------------------

    def decide(
        self,
        fields: Mapping[str, Any],
        features: Mapping[str, float | str | None],
        score: float,
        tier: str,
        model_action: str,
        now: datetime,
        *,
        risk_score: float | None = None,
    ) -> PolicyDecision:
        """Decide one transaction from its fields, its features and the model's verdict."""
        env: dict[str, Any] = dict(features)
        env.update(fields)
        env["score"] = score
        env["risk_score"] = risk_score
        env["tier"] = env["risk_tier"] = tier
        env["model_action"] = model_action
        members = self.lists.at(now)
        hits = tuple(
            spec.name
            for spec in self._hard
            if env.get(spec.field or "").__class__ is str
            and members.contains(spec.name, env[spec.field or ""])
        )
        matches: list[RuleMatch] = []
        tags: list[str] = []
        decider: str | None = None
        decision_action = model_action
        for test, reads, rule_name, act, mode, priority, role in self._loop:
            if not test(env, members):
                continue
            values: dict[str, Any] = {}
            for n in reads:
                v = env.get(n)
                # NaN (a missing feature) as None, as the ledger records features: JSON has no
                # NaN. Only NaN is unequal to itself.
                values[n] = v if v == v else None
            matches.append(RuleMatch(rule_name, act, mode, priority, values))
            if role == _TAGS:
                tags.append(rule_name)
            elif role == _DECIDES and decider is None:
                decider, decision_action = rule_name, act
        action: str
        by: str
        name: str | None
        if hits:
            first = next(s for s in self._hard if s.name == hits[0])
            action, by, name = first.kind, "list", first.name
        elif decider is not None:
            action, by, name = decision_action, "rule", decider
        else:
            action, by, name = model_action, "model", None
        return PolicyDecision(
            action=action,
            decided_by=by,
            decider=name,
            matches=tuple(matches),
            tags=tuple(tags),
            lists=hits,
            model_action=model_action,
            rules_version=self.version,
            lists_version=self.lists.version,
        )

    # -- a whole frame ---------------------------------------------------------------------

    def match_many(self, frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
        """One Boolean column per rule (named after it): did the rule match each row."""
        members = self.lists.members(now)
        if not self.rules:
            return pl.DataFrame(height=frame.height)
        return frame.select([to_polars(c.node, members).alias(c.rule.name) for c in self.rules])

    def decide_many(
        self, frame: pl.DataFrame, now: datetime, matched: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """``action``, ``decided_by`` and ``decider`` of every row, by the same order as ``decide``.

        ``frame`` needs a ``model_action`` column (else the model is taken to allow everything)
        and the columns the rules read; ``matched`` is ``match_many``'s result if already made.
        """
        members = self.lists.members(now)
        if matched is None:
            matched = self.match_many(frame, now)
        steps: list[tuple[pl.Expr, str, str, str]] = []
        for spec in self._hard:
            listed = pl.Series(sorted(members.get(spec.name, frozenset())), dtype=pl.String)
            held = pl.col(spec.field or "").cast(pl.String).is_in(listed.implode()).fill_null(False)
            steps.append((held, spec.kind, "list", spec.name))
        for c in self.rules:
            if c.decides:
                steps.append((pl.col(_RULE + c.rule.name), c.rule.action, "rule", c.rule.name))
        model = pl.col("model_action") if "model_action" in frame.columns else pl.lit("allow")
        action: Any = pl
        by: Any = pl
        name: Any = pl
        for condition, act, kind, who in steps:
            action = action.when(condition).then(pl.lit(act))
            by = by.when(condition).then(pl.lit(kind))
            name = name.when(condition).then(pl.lit(who))
        if not steps:
            return frame.select(
                model.cast(pl.String).alias("action"),
                pl.lit("model").alias("decided_by"),
                pl.lit(None, dtype=pl.String).alias("decider"),
            )
        # Prefixed so a rule named like a column (``amount``) cannot shadow it.
        flags = matched.rename({c: _RULE + c for c in matched.columns})
        inputs = pl.concat([frame, flags], how="horizontal") if flags.width else frame
        return inputs.select(
            action.otherwise(model).cast(pl.String).alias("action"),
            by.otherwise(pl.lit("model")).alias("decided_by"),
            name.otherwise(pl.lit(None, dtype=pl.String)).alias("decider"),
        )


def _shown(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:g}"
    return repr(value)
