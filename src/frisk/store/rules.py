"""The rule set in the ledger (table ``rules``), versioned and audited: ``SqlRuleStore``.

It implements ``frisk.policy``'s ``RuleStore`` on SQLite and PostgreSQL; each change is one
transaction with its version bump and audit entry (``frisk.store._versioned``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from frisk.errors import NotFoundError
from frisk.policy.audit import AuditRecord
from frisk.policy.rules import Rule
from frisk.store._driver_errors import translate_errors
from frisk.store._versioned import Unchanged, Versioned, audit
from frisk.store.tables import rules

__all__ = ["RuleInfo", "SqlRuleStore"]

_RULES = "rules"


@dataclass(frozen=True, slots=True)
class RuleInfo:
    rule: Rule
    updated_by: str
    updated_at: datetime


class SqlRuleStore(Versioned):
    """The rule set in the ledger; the same verbs as ``RuleBook``."""

    kind = _RULES

    def state(self) -> tuple[int, tuple[Rule, ...]]:
        version, infos = self._consistent(_read_rules)
        return version, tuple(i.rule for i in infos)

    def describe(self) -> tuple[int, list[RuleInfo]]:
        """The version and every rule with who changed it last, and when (by priority)."""
        version, infos = self._consistent(_read_rules)
        return version, list(infos)

    def get(self, name: str) -> Rule:
        with translate_errors("reading a rule"), self.engine.connect() as conn:
            row = conn.execute(sa.select(rules).where(rules.c.name == name)).one_or_none()
        if row is None:
            raise NotFoundError(f"no rule named {name!r}")
        return _rule(row._mapping).rule

    def put(self, rule: Rule, *, actor: str, at: datetime) -> AuditRecord | None:
        """Create or replace one rule; None (and no new version) when nothing changes."""
        try:
            with translate_errors(f"saving rule {rule.name!r}"), self.engine.begin() as conn:
                version = self._bump(conn, at)
                before = _one_rule(conn, rule.name)
                if before == rule:
                    raise Unchanged
                self._write(conn, rule, actor, at, exists=before is not None)
                action = "rule.create" if before is None else "rule.update"
                return audit(conn, actor, action, f"rule:{rule.name}", at, before, rule, version)
        except Unchanged:
            return None

    def remove(self, name: str, *, actor: str, at: datetime) -> AuditRecord:
        try:
            with translate_errors(f"deleting rule {name!r}"), self.engine.begin() as conn:
                version = self._bump(conn, at)
                before = _one_rule(conn, name)
                if before is None:
                    raise Unchanged
                conn.execute(rules.delete().where(rules.c.name == name))
                return audit(conn, actor, "rule.delete", f"rule:{name}", at, before, None, version)
        except Unchanged:
            raise NotFoundError(f"no rule named {name!r}") from None

    def replace_all(self, new: Iterable[Rule], *, actor: str, at: datetime) -> list[AuditRecord]:
        """Make the stored rules exactly ``new`` (a rules file applied); one version for all."""
        wanted = {r.name: r for r in new}
        try:
            with translate_errors("replacing the rule set"), self.engine.begin() as conn:
                version = self._bump(conn, at)
                old = {i.rule.name: i.rule for i in _read_rules(conn)}
                changed = sorted(
                    n for n in old.keys() | wanted.keys() if old.get(n) != wanted.get(n)
                )
                if not changed:
                    raise Unchanged
                records = []
                for name in changed:
                    before, after = old.get(name), wanted.get(name)
                    if after is None:
                        conn.execute(rules.delete().where(rules.c.name == name))
                        action = "rule.delete"
                    else:
                        self._write(conn, after, actor, at, exists=before is not None)
                        action = "rule.create" if before is None else "rule.update"
                    target = f"rule:{name}"
                    records.append(audit(conn, actor, action, target, at, before, after, version))
                return records
        except Unchanged:
            return []

    def _write(
        self, conn: Connection, rule: Rule, actor: str, at: datetime, *, exists: bool
    ) -> None:
        values = {**rule.to_json(), "updated_by": actor, "updated_at": at}
        if exists:
            conn.execute(rules.update().where(rules.c.name == rule.name).values(values))
        else:
            conn.execute(rules.insert().values(values))


def _read_rules(conn: Connection) -> list[RuleInfo]:
    query = sa.select(rules).order_by(rules.c.priority, rules.c.name)
    return [_rule(r._mapping) for r in conn.execute(query).all()]


def _one_rule(conn: Connection, name: str) -> Rule | None:
    row = conn.execute(sa.select(rules).where(rules.c.name == name)).one_or_none()
    return None if row is None else _rule(row._mapping).rule


def _rule(row: RowMapping) -> RuleInfo:
    rule = Rule(
        name=row["name"],
        expression=row["expression"],
        action=row["action"],
        priority=int(row["priority"]),
        mode=row["mode"],
        description=row["description"],
    )
    return RuleInfo(rule, row["updated_by"], row["updated_at"])
