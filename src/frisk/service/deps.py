"""What routes depend on: the app's state and ``Annotated`` aliases to ask for parts of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from frisk.config import Settings
from frisk.engine import DecisionEngine
from frisk.service.keys import KeyCache
from frisk.service.metrics import ServiceMetrics
from frisk.service.ratelimit import Limiter
from frisk.service.scoring import Scorer
from frisk.service.stats import LiveStats
from frisk.store.ledger import Ledger

__all__ = ["LedgerDep", "ScorerDep", "ServiceState", "StateDep"]


@dataclass(slots=True)
class ServiceState:
    """Everything one app instance owns; built by ``create_app``."""

    settings: Settings
    ledger: Ledger
    decision_engine: DecisionEngine | None
    metrics: ServiceMetrics
    stats: LiveStats
    limiter: Limiter | None
    keys: KeyCache
    scorer: Scorer

    @property
    def model_version(self) -> str | None:
        """The version the engine decides with; None without an engine."""
        engine = self.decision_engine
        return None if engine is None else engine.model_version


# Async on purpose: FastAPI runs a plain-function dependency in the thread pool, a thread hop per
# request for an attribute read. These only read app state, so they run on the loop; anything
# that may block (the ledger, key look-ups on a cache miss) stays in the thread pool where used.
async def _state(request: Request) -> ServiceState:
    return _state_of(request)


async def _ledger(request: Request) -> Ledger:
    return _state_of(request).ledger


async def _scorer(request: Request) -> Scorer:
    return _state_of(request).scorer


def _state_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.frisk
    return state


StateDep = Annotated[ServiceState, Depends(_state)]
LedgerDep = Annotated[Ledger, Depends(_ledger)]
ScorerDep = Annotated[Scorer, Depends(_scorer)]
