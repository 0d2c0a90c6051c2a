"""The service's ``Decider``: the decision core counting into the service's metrics and live
statistics, waiting in Starlette's thread pool when it must not block the event loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from frisk.bounds import EventWindow
from frisk.engine import DecisionEngine
from frisk.engine.claims import Claims
from frisk.engine.decider import Decided, Decider, body_hash
from frisk.service.metrics import ServiceMetrics
from frisk.service.stats import LiveStats
from frisk.store.ledger import DecisionRecord, Ledger

__all__ = ["Decided", "Scorer", "body_hash"]


class Scorer(Decider):
    """What ``POST /v1/score`` and uploads decide through (``frisk.engine.decider``)."""

    def __init__(
        self,
        ledger: Ledger,
        engine: DecisionEngine | None,
        metrics: ServiceMetrics,
        stats: LiveStats,
        *,
        record: Callable[[DecisionRecord], DecisionRecord] | None = None,
        record_async: Callable[[DecisionRecord], Awaitable[DecisionRecord]] | None = None,
        record_many: Callable[[list[DecisionRecord]], list[DecisionRecord]] | None = None,
        window: EventWindow | None = None,
        claims: Claims | None = None,
    ) -> None:
        self.metrics = metrics
        self.stats = stats
        self._by_outcome: dict[tuple[str, str], Any] = {}
        super().__init__(
            ledger,
            engine,
            record=record,
            record_async=record_async,
            record_many=record_many,
            on_decided=self._count,
            on_replay=metrics.replays.inc,
            to_thread=run_in_threadpool,
            window=window,
            claims=claims,
        )

    def _count(self, record: DecisionRecord, elapsed_ms: float) -> None:
        counter = self._by_outcome.get((record.action, record.tier))
        if counter is None:  # a handful of (action, tier) pairs: labels() once for each
            counter = self.metrics.decisions.labels(action=record.action, tier=record.tier)
            self._by_outcome[(record.action, record.tier)] = counter
        counter.inc()
        self.metrics.scores.observe(record.score)
        if record.degraded:
            self.metrics.degraded.inc()
        self.stats.observe(record.action, elapsed_ms)
