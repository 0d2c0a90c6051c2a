"""Rules as analysts write them, rule files (rules-as-code) and the versioned, audited rule book.

A rules file is YAML: a list of rules, or ``{rules: [...]}``::

    - name: mule_payees
      expression: payee_id in blocklist("mule_accounts")
      action: block            # block / review / allow / tag
      priority: 10             # lower runs first
      mode: active             # active / shadow
      description: Known mule accounts.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from frisk.errors import NotFoundError
from frisk.policy.audit import AuditRecord
from frisk.policy.errors import RuleError

__all__ = [
    "Rule",
    "RuleAction",
    "RuleBook",
    "RuleMode",
    "RuleStore",
    "load_rules",
    "rules_to_yaml",
]

RuleAction = Literal["block", "review", "allow", "tag"]
RuleMode = Literal["active", "shadow"]
_ACTIONS: Final = ("block", "review", "allow", "tag")
_MODES: Final = ("active", "shadow")
_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
_FIELDS: Final = ("name", "expression", "action", "priority", "mode", "description")
# A decision's ``decided_by`` is a rule's name, ``list:<name>`` or ``model``: no rule is "model".
_RESERVED: Final = ("model",)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. ``tag`` rules only label a decision; shadow rules are recorded, never obeyed."""

    name: str
    expression: str
    action: RuleAction
    priority: int = 100
    mode: RuleMode = "active"
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise RuleError(f"rule name {self.name!r}: letters, digits, _ . - (at most 100)")
        if self.name in _RESERVED:
            raise RuleError(f"rule name {self.name!r} is reserved")
        if self.action not in _ACTIONS:
            raise RuleError(f"rule {self.name!r}: action {self.action!r} is not one of {_ACTIONS}")
        if self.mode not in _MODES:
            raise RuleError(f"rule {self.name!r}: mode {self.mode!r} is not one of {_MODES}")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise RuleError(f"rule {self.name!r}: priority {self.priority!r} is not an integer")
        if not isinstance(self.expression, str) or not self.expression.strip():
            raise RuleError(f"rule {self.name!r}: expression is empty")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "rule") -> Rule:
        if not isinstance(data, dict):
            raise RuleError(f"{where}: expected a mapping of {', '.join(_FIELDS)}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise RuleError(f"{where}: unknown key(s) {', '.join(unknown)}")
        missing = [k for k in ("name", "expression", "action") if k not in data]
        if missing:
            raise RuleError(f"{where}: missing {', '.join(missing)}")
        try:
            return cls(**data)
        except RuleError as exc:
            raise RuleError(f"{where}: {exc}") from exc


def load_rules(text: str, source: str = "rules") -> list[Rule]:
    """Rules of a YAML rules file; errors name the file and the rule."""
    import yaml  # type: ignore[import-untyped]

    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"{source}: not valid YAML ({exc})") from exc
    if isinstance(body, dict) and set(body) == {"rules"}:
        body = body["rules"]
    if body is None:
        return []
    if not isinstance(body, list):
        raise RuleError(f"{source}: expected a list of rules (or rules: [...])")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(body, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        rule = Rule.from_json(item, f"{source}: rule {index}" + (f" ({name})" if name else ""))
        if rule.name in seen:
            raise RuleError(f"{source}: rule {rule.name!r} appears twice")
        seen.add(rule.name)
        rules.append(rule)
    return rules


def rules_to_yaml(rules: Iterable[Rule]) -> str:
    import yaml  # type: ignore[import-untyped]

    dumped: str = yaml.safe_dump([r.to_json() for r in rules], sort_keys=False)
    return dumped


class RuleStore(Protocol):
    """Where the rule set lives (``RuleBook`` in memory, the SQL ledger's ``SqlRuleStore``).

    Every change returns its audit record (a store that persists changes persists it too) and,
    unless it changes nothing, makes a new version.
    """

    @property
    def version(self) -> int: ...

    def state(self) -> tuple[int, tuple[Rule, ...]]: ...

    def get(self, name: str) -> Rule: ...

    def put(self, rule: Rule, *, actor: str, at: datetime) -> AuditRecord | None: ...

    def remove(self, name: str, *, actor: str, at: datetime) -> AuditRecord: ...

    def replace_all(
        self, rules: Iterable[Rule], *, actor: str, at: datetime
    ) -> list[AuditRecord]: ...


class RuleBook:
    """The current rules, a version that counts changes, and an audit record per change.

    Thread-safe; readers take ``state()`` (version and rules together) and compile it into a
    ``Policy``. Callers check a change compiles (``Policy``) before they apply it here.
    """

    def __init__(self, rules: Iterable[Rule] = (), version: int = 0) -> None:
        self._rules = {r.name: r for r in rules}
        self._version = version
        self._lock = threading.Lock()

    @property
    def version(self) -> int:
        return self._version

    def state(self) -> tuple[int, tuple[Rule, ...]]:
        with self._lock:
            return self._version, tuple(self._rules.values())

    def get(self, name: str) -> Rule:
        with self._lock:
            if name not in self._rules:
                raise NotFoundError(f"no rule named {name!r}")
            return self._rules[name]

    def put(self, rule: Rule, *, actor: str, at: datetime) -> AuditRecord | None:
        """Create or replace one rule; None (and no new version) when nothing changes."""
        with self._lock:
            before = self._rules.get(rule.name)
            if before == rule:
                return None
            self._rules[rule.name] = rule
            action = "rule.create" if before is None else "rule.update"
            return self._record(actor, action, rule.name, at, before, rule)

    def remove(self, name: str, *, actor: str, at: datetime) -> AuditRecord:
        with self._lock:
            if name not in self._rules:
                raise NotFoundError(f"no rule named {name!r}")
            before = self._rules.pop(name)
            return self._record(actor, "rule.delete", name, at, before, None)

    def replace_all(self, rules: Iterable[Rule], *, actor: str, at: datetime) -> list[AuditRecord]:
        """Make the book hold exactly ``rules`` (a rules file applied); one version for all."""
        new = {r.name: r for r in rules}
        with self._lock:
            old = self._rules
            changed = [n for n in old.keys() | new.keys() if old.get(n) != new.get(n)]
            if not changed:
                return []
            self._version += 1
            self._rules = new
            records = []
            for name in sorted(changed):
                before, after = old.get(name), new.get(name)
                action = "rule.update"
                if before is None or after is None:
                    action = "rule.create" if before is None else "rule.delete"
                records.append(self._record(actor, action, name, at, before, after, bump=False))
            return records

    def _record(
        self,
        actor: str,
        action: str,
        name: str,
        at: datetime,
        before: Rule | None,
        after: Rule | None,
        *,
        bump: bool = True,
    ) -> AuditRecord:
        if bump:
            self._version += 1
        return AuditRecord(
            actor,
            action,
            f"rule:{name}",
            at,
            None if before is None else before.to_json(),
            # The rule set's version once this change is in: what decisions will record.
            None if after is None else {**after.to_json(), "version": self._version},
        )
