"""The service's policy: rules and lists from the ledger, behind the engine and the routes.

``build_policy`` loads the rules and lists the ledger holds (and, with ``policy.rules_file``,
makes the rules exactly that file's), compiles them against what the serving model's decisions
carry (transaction fields, the catalogue's features, score, tier, model action) and hands the
``LivePolicy`` to the engine. Routes change it through ``PolicyDep``; each change is stored with
its audit entry in one transaction (``frisk.store.policy``) and takes effect on the next decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from frisk.config import Settings
from frisk.errors import ConfigError
from frisk.policy import LivePolicy, rule_variables
from frisk.service.errors import NotReadyError
from frisk.store import Ledger, SqlLedger
from frisk.store.policy import SqlListStore, SqlRuleStore

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client import CollectorRegistry

    from frisk.features import Catalogue
    from frisk.service.engine import DecisionEngine

__all__ = ["PolicyDep", "PolicyState", "build_policy"]

RULES_FILE_ACTOR = "rules-file"


@dataclass(slots=True)
class PolicyState:
    """The live policy and the ledger stores behind it."""

    live: LivePolicy
    rules: SqlRuleStore
    lists: SqlListStore
    ledger: SqlLedger
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def build_policy(
    settings: Settings,
    ledger: Ledger,
    engine: DecisionEngine | None,
    registry: CollectorRegistry | None = None,
) -> PolicyState | None:
    """The policy the ledger holds, attached to ``engine``; None for a ledger that is not SQL.

    A stored rule that no longer compiles (the model now reads another catalogue) fails the
    start with the rule's name and position, like any other bad configuration.
    """
    if not isinstance(ledger, SqlLedger):
        return None
    rules, lists = SqlRuleStore(ledger.engine), SqlListStore(ledger.engine)
    catalogue: Catalogue | None = getattr(engine, "catalogue", None)
    if catalogue is None:
        from frisk.features import resolve_catalogue

        catalogue = resolve_catalogue("default")
    extras: dict[str, Any] = {
        s.of: ("string" if s.categorical else "number")
        for s in catalogue.specs
        if s.kind == "extra"
    }
    try:
        live = LivePolicy(rule_variables(catalogue, extras=extras), rules, lists)
        path = settings.policy.rules_file
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"policy.rules_file {str(path)!r}: {exc.strerror}") from exc
            actor = f"{RULES_FILE_ACTOR}:{path.name}"
            live.load_rules(text, source=str(path), actor=actor, at=datetime.now(UTC))
    except ConfigError:
        raise
    except Exception as exc:  # a RuleError: the service must not start half-configured
        raise ConfigError(f"the stored policy cannot be used: {exc}") from exc
    attach = getattr(engine, "use_policy", None)
    if attach is not None:
        attach(live)
    if registry is not None:
        registry.register(_RuleHits(live))
    return PolicyState(live, rules, lists, ledger)


class _RuleHits(Collector):
    """``frisk_rule_hits_total{rule}``, read from the policy's counts when scraped.

    Counting in the policy and exporting at scrape time keeps Prometheus off the decision path.
    """

    def __init__(self, live: LivePolicy) -> None:
        self.live = live

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "frisk_rule_hits",
            "Decisions each rule matched since start (shadow too).",
            labels=["rule"],
        )
        for name, count in sorted(dict(self.live.hits).items()):
            family.add_metric([name], count)
        yield family


async def _policy(request: Request) -> PolicyState:
    state: PolicyState | None = getattr(request.app.state, "policy", None)
    if state is None:
        raise NotReadyError("rules and lists need the SQL ledger, which this service lacks")
    return state


PolicyDep = Annotated[PolicyState, Depends(_policy)]
