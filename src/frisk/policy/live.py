"""``LivePolicy``: the policy a running service decides with, changed without a restart.

Every change is compiled against the resulting rules and lists before anything is changed, so a
bad rule is refused with its position and the running policy stays as it was. A good change
builds a new immutable ``Policy`` and swaps one reference: a decision in flight finishes with the
policy it started with, the next one sees the change, and no request waits for a compile.
Every change returns its audit records: the in-memory stores leave persisting them to the caller,
the SQL ones (``frisk.store.rules``, ``frisk.store.lists``) have stored them with the change.

``hits`` counts, per rule name, the decisions it matched since this object was made (shadow
rules too), and ``on_hit``, when set, is called with each match's rule name as well (the service
counts them there for every worker of ``frisk serve --workers N``); ``sync`` picks up changes
another process made to shared stores.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import datetime
from typing import Any

from frisk.errors import NotFoundError
from frisk.policy.audit import AuditRecord
from frisk.policy.decision import Policy, PolicyDecision
from frisk.policy.errors import RuleError
from frisk.policy.lists import ListEntry, ListSnapshot, ListStore, MemoryListStore, NamedList
from frisk.policy.nodes import Type
from frisk.policy.rules import Rule, RuleBook, RuleStore, load_rules

__all__ = ["LivePolicy"]


class LivePolicy:
    """Rules and lists behind one ``decide`` call; changes take effect on the next decision."""

    def __init__(
        self,
        variables: Mapping[str, Type],
        book: RuleStore | None = None,
        lists: ListStore | None = None,
    ) -> None:
        self.variables = dict(variables)
        self.book: RuleStore = book if book is not None else RuleBook()
        self.store: ListStore = lists if lists is not None else MemoryListStore()
        # Matches per rule name. Updated without a lock: the service decides one transaction
        # at a time (its engine lock), and a lost increment elsewhere would cost a count only.
        self.hits: Counter[str] = Counter()
        self.on_hit: Callable[[str], None] | None = None
        self._write = threading.Lock()  # one change at a time; decisions never take it
        self._policy = self._build(*self.book.state(), self.store.snapshot())

    @property
    def policy(self) -> Policy:
        return self._policy

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
        policy = self._policy  # one read: the whole decision uses one version
        decision = policy.decide(
            fields, features, score, tier, model_action, now, risk_score=risk_score
        )
        if decision.matches:
            hits = self.hits
            for match in decision.matches:
                hits[match.rule] += 1
            on_hit = self.on_hit
            if on_hit is not None:
                for match in decision.matches:
                    on_hit(match.rule)
        return decision

    def sync(self) -> bool:
        """Rebuild the policy if the stores moved on (a change by another process); True if so.

        A stored rule that does not compile here raises ``RuleError`` and the running policy
        stays: another process may compile rules against another model's variables.
        """
        with self._write:
            policy = self._policy
            if self.book.version == policy.version and self.store.version == policy.lists.version:
                return False
            self._refresh()
            return True

    # -- rules -----------------------------------------------------------------------------

    def put_rule(self, rule: Rule, *, actor: str, at: datetime) -> list[AuditRecord]:
        with self._write:
            version, rules = self.book.state()
            others = [r for r in rules if r.name != rule.name]
            self._build(version + 1, (*others, rule), self._lists())
            record = self.book.put(rule, actor=actor, at=at)
            self._refresh()
            return [] if record is None else [record]

    def remove_rule(self, name: str, *, actor: str, at: datetime) -> list[AuditRecord]:
        with self._write:
            version, rules = self.book.state()
            if name not in {r.name for r in rules}:
                raise NotFoundError(f"no rule named {name!r}")
            rest = [r for r in rules if r.name != name]
            try:
                self._build(version + 1, rest, self._lists())
            except RuleError:
                # Refused only if the stored set compiles now: when it does not either (rules
                # stored for another model), removing one of them cannot make it worse.
                try:
                    self._build(version, rules, self._lists())
                except RuleError:
                    pass
                else:
                    raise
            record = self.book.remove(name, actor=actor, at=at)
            with suppress(RuleError):  # what is left still does not compile here: decide on
                self._refresh()
            return [record]

    def load_rules(self, text: str, *, source: str, actor: str, at: datetime) -> list[AuditRecord]:
        """Rules-as-code: make the rule set exactly the rules of a YAML file."""
        return self.replace_rules(load_rules(text, source), actor=actor, at=at)

    def replace_rules(
        self, rules: Iterable[Rule], *, actor: str, at: datetime
    ) -> list[AuditRecord]:
        """Make the rule set exactly ``rules`` in one version; all of them compile or none apply."""
        wanted = list(rules)
        seen: set[str] = set()
        for rule in wanted:
            # A store keeps one rule per name: a repeated one would silently replace the first.
            if rule.name in seen:
                raise RuleError(f"rule {rule.name!r} appears twice")
            seen.add(rule.name)
        with self._write:
            self._build(self.book.version + 1, wanted, self._lists())
            records = self.book.replace_all(wanted, actor=actor, at=at)
            self._refresh()
            return records

    # -- lists -----------------------------------------------------------------------------

    def create_list(self, spec: NamedList, *, actor: str, at: datetime) -> list[AuditRecord]:
        with self._write:
            current = self._lists()
            candidate = replace(current, definitions={**current.definitions, spec.name: spec})
            self._build(*self.book.state(), candidate)
            record = self.store.create(spec, actor=actor, at=at)
            self._refresh()
            return [record]

    def drop_list(self, name: str, *, actor: str, at: datetime) -> list[AuditRecord]:
        with self._write:
            current = self._lists()
            if name not in current.definitions:
                raise NotFoundError(f"no list named {name!r}")
            # Refused (by compiling) while a rule still reads the list.
            rest = {n: d for n, d in current.definitions.items() if n != name}
            self._build(*self.book.state(), ListSnapshot(current.version, rest, current.values))
            record = self.store.drop(name, actor=actor, at=at)
            self._refresh()
            return [record]

    def add_entries(
        self, name: str, entries: Iterable[ListEntry], *, actor: str, at: datetime
    ) -> list[AuditRecord]:
        with self._write:
            self._compiles()
            record = self.store.add(name, entries, actor=actor, at=at)
            self._refresh()
            return [record]

    def remove_entries(
        self, name: str, values: Iterable[str], *, actor: str, at: datetime
    ) -> list[AuditRecord]:
        with self._write:
            self._compiles()
            record = self.store.remove(name, values, actor=actor, at=at)
            self._refresh()
            return [record]

    # -- internals -------------------------------------------------------------------------

    def _build(self, version: int, rules: Iterable[Rule], lists: ListSnapshot) -> Policy:
        return Policy(rules, self.variables, lists, version=version)

    def _compiles(self) -> None:
        """Raise if the stored policy does not compile here (another process stored rules for
        another model): a change that cannot take effect is refused before it is stored."""
        policy = self._policy
        if self.book.version == policy.version and self.store.version == policy.lists.version:
            return  # what is stored is what decides now, and that compiled
        self._build(*self.book.state(), self._lists())

    def _lists(self) -> ListSnapshot:
        """The lists as stored: the running policy's snapshot unless they changed since."""
        held = self._policy.lists
        return held if self.store.version == held.version else self.store.snapshot(since=held)

    def _refresh(self) -> None:
        self._policy = self._build(*self.book.state(), self._lists())
