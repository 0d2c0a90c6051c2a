"""The policy in force: the ledger's rules and lists, behind the engine, routes and consumers.

``build_policy`` opens the rules and lists the ledger holds (``frisk.store.policy_source``, the same
way ``frisk lists`` and ``frisk rules`` do; with ``policy.rules_file`` the rules become exactly
that file's), compiled against what the serving model's decisions carry, and hands the
``LivePolicy`` to the engine. The service's routes change it (``frisk.service.policy``'s
``PolicyDep``); each change is stored with its audit entry in one transaction (``Ledger.rules``,
``Ledger.lists``) and takes effect on the next decision.

Changes another process makes to the ledger (the CLI, a second service or a stream consumer on
the same database) reach this one through ``PolicyWatcher``: a thread that reads
``policy_versions`` every ``policy.poll_seconds`` and rebuilds the policy when they moved on,
never on a request's path.

Under ``frisk serve --workers N`` (prometheus-client's multiprocess mode) each worker counts its
rule hits in its file of the group's directory as they happen, so ``frisk_rule_hits`` from any
worker is the group's total; the policy's version and staleness are the answering worker's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from frisk.config import Settings
from frisk.errors import ConfigError, FriskError, StoreError
from frisk.monitoring.poller import Poller
from frisk.policy import LivePolicy, RuleError, load_rules
from frisk.store.ledger import Ledger, LedgerLists, LedgerRules
from frisk.store.policy_source import open_ledger_policy, replace_ledger_rules

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client import CollectorRegistry

    from frisk.engine import DecisionEngine
    from frisk.features import Catalogue

__all__ = ["PolicyState", "PolicyWatcher", "build_policy"]

RULES_FILE_ACTOR = "rules-file"

log = logging.getLogger("frisk.service")  # the name operators and tests filter on


class PolicyWatcher(Poller):
    """Rebuilds ``live`` when the ledger's policy versions move on; polls every ``interval`` s.

    A check is one SELECT of ``policy_versions``; only a change costs a rebuild. A ledger policy
    that does not compile here (a rule written against another model's variables) is logged, kept
    in ``last_error`` and not retried until the versions move again: the running policy keeps
    deciding meanwhile. A ledger that cannot be read is logged and retried at the next check.
    """

    what = "checking the ledger's policy versions"

    def __init__(self, live: LivePolicy, ledger: Ledger, interval: float) -> None:
        super().__init__(interval, name="frisk-policy")
        self.live = live
        self.ledger = ledger
        self.last_error: str | None = None
        self._failed: tuple[int, int] | None = None  # the (rules, lists) versions that failed
        # Once the ledger is closed, a poll would open a connection nobody closes again.
        ledger.on_close(self._stop.set)

    @property
    def stale(self) -> bool:
        """True while the ledger holds a policy this service could not use."""
        return self._failed is not None

    def check(self) -> bool:
        """Rebuild if another process changed the ledger's policy; True when one was swapped in."""
        try:
            stored = self.ledger.policy_versions()
        except StoreError as exc:
            self._report(f"cannot read the ledger's policy versions: {exc}")
            return False
        wanted = (stored.get("rules", 0), stored.get("lists", 0))
        running = self.live.policy
        if wanted == (running.version, running.lists.version):
            self._recovered()  # a change through this service's API may have fixed the ledger
            return False
        if wanted == self._failed:
            return False
        try:
            changed = self.live.sync()
        except RuleError as exc:
            self._failed = wanted
            self._report(
                f"the ledger's policy (rules version {wanted[0]}, lists version {wanted[1]}) "
                f"does not compile against this service's model, so it is not applied: {exc}\n"
                f"still deciding with rules version {running.version}, lists version "
                f"{running.lists.version}"
            )
            return False
        except StoreError as exc:
            self._report(f"reading the ledger's changed policy failed (retried): {exc}")
            return False
        self._recovered()
        if changed:
            now = self.live.policy
            log.info(
                "policy changed in the ledger: now rules version %d, lists version %d",
                now.version,
                now.lists.version,
            )
        return changed

    def _recovered(self) -> None:
        if self.last_error is not None:
            log.info("the ledger's policy is in force again")
        self._failed, self.last_error = None, None

    def _report(self, message: str) -> None:
        if message != self.last_error:  # once per distinct failure, not every poll
            log.error("%s", message)
        self.last_error = message


@dataclass(slots=True)
class PolicyState:
    """The live policy, the ledger stores behind it, and the watcher that follows the ledger."""

    live: LivePolicy
    rules: LedgerRules
    lists: LedgerLists
    ledger: Ledger
    watcher: PolicyWatcher
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def start(self) -> None:
        """Start following the ledger (the app's lifespan calls this, and ``close``)."""
        self.watcher.start()

    def close(self) -> None:
        self.watcher.close()


def build_policy(
    settings: Settings,
    ledger: Ledger,
    engine: DecisionEngine | None,
    registry: CollectorRegistry | None = None,
) -> PolicyState:
    """The policy the ledger holds, attached to ``engine``.

    A stored rule that no longer compiles (the model now reads another catalogue) fails the
    start with the rule's name and position, like any other bad configuration.
    """
    catalogue: Catalogue | None = getattr(engine, "catalogue", None)
    try:
        path = settings.policy.rules_file
        if path is not None:
            # The file's rules replace the stored ones before those are compiled: a stored set
            # written for another model would otherwise stop the start the file is there to fix.
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"policy.rules_file {str(path)!r}: {exc.strerror}") from exc
            replace_ledger_rules(
                ledger,
                load_rules(text, str(path)),
                catalogue,
                actor=f"{RULES_FILE_ACTOR}:{path.name}",
                at=datetime.now(UTC),
            )
        opened = open_ledger_policy(ledger, catalogue)
        live = opened.live
    except ConfigError:
        raise
    except FriskError as exc:  # a RuleError: the service must not start half-configured
        raise ConfigError(f"the stored policy cannot be used: {exc}") from exc
    attach = getattr(engine, "use_policy", None)
    if attach is not None:
        attach(live)
    watcher = PolicyWatcher(live, ledger, settings.policy.poll_seconds)
    if registry is not None:
        shared = _multiprocess()
        if shared:
            live.on_hit = _count_in_files()
        registry.register(_PolicyMetrics(live, watcher, hits=not shared))
    return PolicyState(live, opened.rules, opened.lists, ledger, watcher)


_HITS = "frisk_rule_hits"
_HITS_HELP = "Decisions each rule matched since start (shadow too)."


def _multiprocess() -> bool:
    """True when prometheus-client keeps metrics in files shared by a group of processes."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def _count_in_files() -> Callable[[str], None]:
    """A hit counter that writes this process's file of the group.

    Unlike the workers' stats files (written once a second, by live workers only), the files
    are up to date when any worker is scraped and keep a dead worker's count, so the total
    never goes back.
    """
    counter = Counter(_HITS, _HITS_HELP, ["rule"], registry=None)
    bound: dict[str, Callable[[], None]] = {}

    def hit(rule: str) -> None:
        inc = bound.get(rule)
        if inc is None:
            inc = bound[rule] = counter.labels(rule=rule).inc
        inc()

    return hit


class _PolicyMetrics(Collector):
    """Rule hits and the policy in force, read from the policy when scraped.

    Counting in the policy and exporting at scrape time keeps Prometheus off the decision path
    of a single process; with ``hits`` False the hits are counted in multiprocess files instead.
    """

    def __init__(self, live: LivePolicy, watcher: PolicyWatcher, *, hits: bool = True) -> None:
        self.live = live
        self.watcher = watcher
        self.hits = hits

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        if self.hits:
            family = CounterMetricFamily(_HITS, _HITS_HELP, labels=["rule"])
            for name, count in sorted(dict(self.live.hits).items()):
                family.add_metric([name], count)
            yield family
        policy = self.live.policy
        version = GaugeMetricFamily(
            "frisk_policy_version",
            "The rules and lists versions this service decides with.",
            labels=["kind"],
        )
        version.add_metric(["rules"], policy.version)
        version.add_metric(["lists"], policy.lists.version)
        yield version
        yield GaugeMetricFamily(
            "frisk_policy_stale",
            "1 while the ledger holds a policy this service cannot compile (the log says why).",
            value=1.0 if self.watcher.stale else 0.0,
        )
