"""The decision core as an entry point runs it: decider, group commit, policy and model following.

``frisk serve`` (``frisk.service.app``) and ``frisk consume`` (``frisk.streams``) build the same
pieces around an engine and a ledger with ``build_decider``: a ``Decider`` recording through a
``DecisionRecorder`` (many decisions per commit), the ledger's rules and lists attached to the
engine and followed as other processes change them, and, when asked, the registry's production
pointer followed so a promotion or rollback is decided with from the next payment on. The HTTP
service follows the registry itself (``ModelOps``, which also runs the shadow model); a consumer
asks ``build_decider`` to. With shared feature state (``state.url``) other processes decide
too, so the decider claims each id before deciding it (``frisk.engine.claims``, in Redis).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from frisk.engine import DecisionEngine
from frisk.engine.claims import Claims
from frisk.engine.decider import Decider
from frisk.engine.policy import PolicyState, build_policy
from frisk.engine.recorder import DecisionRecorder
from frisk.models.registry import Registry
from frisk.monitoring.watcher import RegistryWatcher

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from frisk.config import Settings
    from frisk.store.ledger import Ledger

__all__ = ["Runtime", "build_decider"]

log = logging.getLogger("frisk.engine")

D = TypeVar("D", bound=Decider)


@dataclass(slots=True)
class Runtime(Generic[D]):
    """What ``build_decider`` built; ``start`` the followers, ``close`` everything it owns."""

    decider: D
    recorder: DecisionRecorder
    policy: PolicyState
    models: RegistryWatcher | None = None
    claims: Claims | None = None

    def start(self) -> Runtime[D]:
        self.policy.start()
        if self.models is not None:
            self.models.start()
        return self

    def close(self) -> None:
        if self.models is not None:
            self.models.close()
        self.policy.close()
        self.recorder.close()
        close = getattr(self.claims, "close", None)
        if close is not None:
            close()


def build_decider(
    settings: Settings,
    ledger: Ledger,
    engine: DecisionEngine | None,
    make: Callable[..., D],
    *,
    registry: CollectorRegistry | None = None,
    on_commit: Callable[[int, float], None] | None = None,
    follow_models: bool = False,
    **hooks: Any,
) -> Runtime[D]:
    """A decider over ``engine`` and ``ledger``, built by ``make`` (``Decider`` or a subclass).

    ``make`` is called with ``ledger`` and ``engine``, then the recorder's ``record``,
    ``record_async`` and ``record_many``, the live-event window and the claims on ids (None with
    in-process state), plus ``hooks``
    (``on_decided``, ``on_replay``, ...). Policy metrics go to ``registry``. With
    ``follow_models``, an engine serving a registry's production version swaps in whatever the
    registry promotes, checked every ``monitoring.registry_poll_seconds``. Nothing runs until
    ``Runtime.start``.
    """
    recorder = DecisionRecorder(
        ledger, on_commit=on_commit, wait_seconds=settings.store.answer_seconds
    )
    claims = _claims(settings) if engine is not None else None
    decider = make(
        ledger,
        engine,
        record=recorder.record_decision,
        record_async=recorder.record_decision_async,
        record_many=recorder.record_decisions,
        window=settings.api.event_window(),
        claims=claims,
        **hooks,
    )
    policy = build_policy(settings, ledger, engine, registry)
    models = _registry_watcher(settings, engine) if follow_models else None
    return Runtime(decider, recorder, policy, models, claims)


def _claims(settings: Settings) -> Claims | None:
    """Claims in the shared state's Redis; None with in-process state (one decider)."""
    if not settings.state.url.strip():
        return None
    from frisk.engine.claims import BestEffortClaims
    from frisk.features.stores.redis_claims import open_claims  # redis: only when configured

    claims = open_claims(settings.state)
    return claims if settings.state.on_unavailable == "refuse" else BestEffortClaims(claims)


def _registry_watcher(settings: Settings, engine: DecisionEngine | None) -> RegistryWatcher | None:
    root: Path | None = getattr(getattr(engine, "source", None), "registry", None)
    if engine is None or root is None:
        return None  # a model directory: nothing to follow

    def swap() -> None:
        before = engine.model_version
        engine.reload()
        log.info("now deciding with model %s (was %s)", engine.model_version, before)

    return RegistryWatcher(
        Registry(root),
        lambda: engine.model_version,
        swap,
        settings.monitoring.registry_poll_seconds,
    )
