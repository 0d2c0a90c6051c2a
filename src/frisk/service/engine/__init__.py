"""The seam between the HTTP service and the scoring core: the ``DecisionEngine`` Protocol.

The service validates a transaction, asks the engine for a ``Verdict``, records it in the ledger
and returns it. The engine owns everything in between (online features, model, thresholds, tiers,
explanations). The service calls ``decide`` under one lock, so an engine need not be thread-safe,
and never twice for a transaction id the ledger already holds, so feature state sees each
transaction once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from frisk.errors import ModelError
from frisk.schema import Transaction

__all__ = ["Action", "DecisionEngine", "Reason", "Verdict", "load_engine"]


class Action(StrEnum):
    """What the caller should do with the payment; every action but ``allow`` is an alert."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Reason:
    """One feature's part in a score, with a sentence an analyst can read."""

    feature: str
    value: float | str | None
    contribution: float  # signed, in the model's margin units
    sentence: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an engine decided about one transaction."""

    score: float  # calibrated probability of fraud, in [0, 1]
    risk_score: int  # 0-100, for people and rules
    risk_tier: str
    action: Action
    reasons: tuple[Reason, ...]
    features: Mapping[str, float | None]  # the values the model saw, recorded for audit
    model_version: str
    # True when a fallback produced the verdict (e.g. a feature store timed out); counted.
    degraded: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)  # milliseconds per stage


@runtime_checkable
class DecisionEngine(Protocol):
    """Features + model + thresholds + explanations behind one call."""

    @property
    def model_version(self) -> str:
        """The version of the model ``decide`` uses now."""
        ...

    def ready(self) -> bool:
        """True once a model is loaded and feature state is warm enough to decide."""
        ...

    def decide(self, txn: Transaction) -> Verdict:
        """Update feature state with ``txn`` and decide; raise a ``FriskError`` on failure."""
        ...

    def reload(self) -> None:
        """Load the current model (e.g. after a registry promotion) without losing state."""
        ...


def load_engine(model_dir: Path | None = None, registry_dir: Path | None = None) -> DecisionEngine:
    """The engine for a model directory or the registry's current model.

    The model-backed engine lands with the model package; until then this refuses to start
    rather than serve made-up scores.
    """
    where = model_dir or registry_dir
    if where is not None and not where.exists():
        raise ModelError(f"model directory {str(where)!r} does not exist")
    raise ModelError(
        "no model-backed decision engine in this build yet; `frisk serve` cannot score without one"
    )
