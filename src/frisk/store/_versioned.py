"""What the rule and list stores share: the version of each kind and the audit entry of a change.

Every change runs in one transaction that also bumps its kind's row of ``policy_versions`` and
appends the audit entry (who, when, before, after) to ``audit_log``: a change is recorded with
its audit entry or not at all. Bumping the version first takes the write lock (a row lock on
PostgreSQL, the database lock on SQLite), so concurrent changes queue and each sees the state the
previous one left. The returned ``AuditRecord`` is already stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from frisk.policy.audit import AuditRecord
from frisk.policy.lists import NamedList
from frisk.policy.rules import Rule
from frisk.store._driver_errors import translate_errors
from frisk.store.tables import audit_log, policy_versions

__all__ = ["Unchanged", "Versioned", "audit", "list_json", "read_versions", "record", "versions"]


class Unchanged(Exception):
    """Raised inside a transaction to roll it back when a change changes nothing."""


def versions(engine: Engine) -> dict[str, int]:
    """The current version of each kind (``rules``, ``lists``); 0 for one never changed."""
    with translate_errors("reading policy versions"), engine.connect() as conn:
        return read_versions(conn)


class Versioned:
    """A store of one kind: its version, the bump every change makes, consistent reads."""

    kind: str

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert: Any = (
            postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        )

    @property
    def version(self) -> int:
        return versions(self.engine).get(self.kind, 0)

    def _bump(self, conn: Connection, at: datetime) -> int:
        stmt = self._insert(policy_versions).values(kind=self.kind, version=1, updated_at=at)
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind"],
            set_={"version": policy_versions.c.version + 1, "updated_at": at},
        )
        conn.execute(stmt)
        return int(
            conn.execute(
                sa.select(policy_versions.c.version).where(policy_versions.c.kind == self.kind)
            ).scalar_one()
        )

    def _consistent(self, read: Any) -> Any:
        """``read(conn)`` with the version it saw, re-read until no change slipped in between."""
        with translate_errors(f"reading {self.kind}"), self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for all the statements, as SQLite's read transaction is: under
                # READ COMMITTED a long read (a big list) could be overtaken again and again.
                conn.execution_options(isolation_level="REPEATABLE READ")
            while True:
                before = read_versions(conn).get(self.kind, 0)
                got = read(conn)
                if read_versions(conn).get(self.kind, 0) == before:
                    return before, got
                conn.rollback()


def read_versions(conn: Connection) -> dict[str, int]:
    """``versions`` within the caller's connection."""
    rows = conn.execute(sa.select(policy_versions.c.kind, policy_versions.c.version)).all()
    return {kind: int(version) for kind, version in rows}


def audit(
    conn: Connection,
    actor: str,
    action: str,
    target: str,
    at: datetime,
    before: Rule | NamedList | None,
    after: Rule | NamedList | None,
    version: int,
) -> AuditRecord:
    def as_json(thing: Rule | NamedList | None) -> dict[str, Any] | None:
        if thing is None:
            return None
        return thing.to_json() if isinstance(thing, Rule) else list_json(thing)

    state = as_json(after)
    # The version this change made: what decisions made under it record.
    return record(
        conn,
        actor,
        action,
        target,
        at,
        as_json(before),
        None if state is None else {**state, "version": version},
    )


def record(
    conn: Connection,
    actor: str,
    action: str,
    target: str,
    at: datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditRecord:
    conn.execute(
        audit_log.insert().values(
            actor=actor, action=action, target=target, before=before, after=after, at=at
        )
    )
    return AuditRecord(actor, action, target, at, before, after)


def list_json(spec: NamedList) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": spec.kind,
        "field": spec.field,
        "description": spec.description,
    }
