"""The rules and lists a ledger holds, as a ``LivePolicy`` compiled for one model's decisions.

The service (``frisk.service.policy``) and the ``frisk lists`` and ``frisk rules`` commands open
the ledger's policy here, so a change is compiled against the same variables whichever way it
comes and is refused the same way: a rule that does not compile, a list a rule reads dropped, a
hard list on a field rules do not know.

Not imported by ``frisk.policy`` itself: the store sits above the policy package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from frisk.policy.audit import AuditRecord
from frisk.policy.decision import Policy
from frisk.policy.lists import ListSnapshot
from frisk.policy.live import LivePolicy
from frisk.policy.nodes import Type
from frisk.policy.variables import rule_variables

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from frisk.features import Catalogue
    from frisk.policy.rules import Rule
    from frisk.store.ledger import Ledger, LedgerLists, LedgerRules

__all__ = ["LedgerPolicy", "decision_variables", "open_ledger_policy", "replace_ledger_rules"]


@dataclass(frozen=True, slots=True)
class LedgerPolicy:
    """The live policy and the ledger stores it reads and changes."""

    live: LivePolicy
    rules: LedgerRules
    lists: LedgerLists


def decision_variables(catalogue: Catalogue | None = None) -> dict[str, Type]:
    """What decisions of a model on ``catalogue`` carry for rules (None: the default catalogue).

    The transaction's fields, the extra attributes the catalogue reads (categorical ones as
    strings), its features, and the model's score, tier and action.
    """
    if catalogue is None:
        from frisk.features import resolve_catalogue

        catalogue = resolve_catalogue("default")
    extras: dict[str, Type] = {
        s.of: ("string" if s.categorical else "number")
        for s in catalogue.specs
        if s.kind == "extra"
    }
    return rule_variables(catalogue, extras=extras)


def open_ledger_policy(ledger: Ledger, catalogue: Catalogue | None = None) -> LedgerPolicy:
    """The ledger's rules and lists, compiled against ``decision_variables(catalogue)``.

    Raises ``RuleError`` (with the rule's name and position) when a stored rule does not compile
    against these variables.
    """
    rules, lists = ledger.rules, ledger.lists
    return LedgerPolicy(LivePolicy(decision_variables(catalogue), rules, lists), rules, lists)


def replace_ledger_rules(
    ledger: Ledger,
    rules: Sequence[Rule],
    catalogue: Catalogue | None = None,
    *,
    actor: str,
    at: datetime,
) -> list[AuditRecord]:
    """Make the ledger's rule set exactly ``rules`` (distinct names, as ``load_rules`` gives them).

    They are compiled first, against ``decision_variables(catalogue)`` and the stored lists, and
    nothing changes if one does not compile. The rules stored now are not compiled: a set written
    for another model, which ``open_ledger_policy`` refuses, can still be replaced (rules-as-code
    at a service's start, ``frisk rules load``).
    """
    # Compiling needs the lists' definitions (names, kinds, fields), not their entries, which
    # can be millions (seconds to read).
    version, infos = ledger.lists.describe()
    definitions = ListSnapshot(version, {i.spec.name: i.spec for i in infos})
    Policy(rules, decision_variables(catalogue), definitions)
    return ledger.rules.replace_all(rules, actor=actor, at=at)
