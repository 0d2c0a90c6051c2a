"""The decision core that the HTTP service, its uploads and stream consumers share.

``decider.Decider.decide(txn)`` is the one entry: it answers a transaction id the ledger holds
from the ledger, else asks a ``DecisionEngine`` for a ``Verdict`` (one decision at a time, so an
engine need not be thread-safe), records it (``recorder``: many concurrent decisions per commit)
and returns it. Feature state sees each transaction once. Nothing here imports the web service.

``ModelEngine`` (``model``) is the real engine: online features, a trained model, thresholds,
rules and lists, and reasons; ``warmup`` keeps its feature state across restarts (snapshots,
then the ledger). ``load_engine`` builds and starts one for ``frisk serve``. ``shadow`` scores a
challenger on the same feature vectors, off the request path, and records what it would have
decided.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from frisk.bounds import EventWindow
from frisk.errors import ModelError

# The vocabulary lives in frisk.schema; re-exported here, where engines use it.
from frisk.schema import Action, Reason, Transaction, Verdict

if TYPE_CHECKING:
    from frisk.config import Settings
    from frisk.engine.model import ModelEngine, ModelInfo, ModelSource
    from frisk.engine.shadow import ShadowScorer, load_shadow
    from frisk.store.ledger import Ledger

__all__ = [
    "Action",
    "CountsLateness",
    "DecisionEngine",
    "LearnsLabels",
    "ModelEngine",
    "ModelInfo",
    "ModelSource",
    "Reason",
    "ShadowScorer",
    "TakesEventClaims",
    "Verdict",
    "load_engine",
    "load_shadow",
]


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


@runtime_checkable
class CountsLateness(Protocol):
    """An engine that counts transactions behind its feature clock and the changes of other
    processes it applied; optional (metrics)."""

    def feature_lateness(self) -> tuple[int, int]:
        """Since start: transactions learnt at the clock's time because they were behind it,
        and those refused for being later than the bound (``state.max_lateness``)."""
        ...

    def feature_changes_applied(self) -> int:
        """Since start: changes other processes made to shared feature state, applied here."""
        ...


@runtime_checkable
class TakesEventClaims(Protocol):
    """An engine whose shared feature store takes the decider's claim on a transaction in the
    same write as its event (``frisk.engine.claims``); optional."""

    @property
    def takes_event_claims(self) -> bool:
        """Whether ``decide`` takes an ``EVENT_CLAIM`` set around it (when it learns)."""
        ...


@runtime_checkable
class LearnsLabels(Protocol):
    """An engine whose features learn from labels; optional, so the service checks for it."""

    def apply_label(
        self,
        transaction_id: str,
        fraud: bool,
        label_timestamp: datetime,
        *,
        recorded_at: datetime | None = None,
    ) -> None:
        """Queue a label: features of events after ``label_timestamp`` see it.

        ``recorded_at`` is the ledger's ``updated_at`` of the label: feature state then counts
        labels up to it as seen, so a restart does not queue them again.
        """
        ...


def load_engine(
    model_dir: Path | None = None,
    registry_dir: Path | None = None,
    *,
    ledger: Ledger | None = None,
    settings: Settings | None = None,
    history: Path | None = None,
) -> ModelEngine:
    """A started ``ModelEngine`` for a model directory, or the registry's production model.

    With ``settings``, feature state lives where ``settings.state`` says: a shared Redis (learnt
    from the ledger only when empty), or in the process, restored from ``settings.home /
    "state"`` and snapshotted there; the thresholds ``settings.service.thresholds`` names
    override the artifact's. With a ``ledger``, decisions the snapshot missed are replayed from
    it before the engine is ready.
    ``history`` (a canonical events file of the payments before the service's first decision) is
    learnt first when there is no snapshot, which would already hold it.
    """
    from frisk.engine.model import ModelEngine, ModelSource

    for where in (model_dir, registry_dir):
        if where is not None and not where.exists():
            raise ModelError(f"model directory {str(where)!r} does not exist")
    if model_dir is None and registry_dir is None:
        raise ModelError("give a model directory or a registry to serve")
    source = (
        ModelSource(directory=model_dir)
        if model_dir is not None
        else ModelSource(registry=registry_dir)
    )
    overrides = {} if settings is None else settings.service.thresholds.overrides()
    store = None
    if settings is not None and settings.state.url:
        from frisk.features.stores import open_store

        store = open_store(settings.state)  # shared by every process: no snapshots of it
    engine = ModelEngine(
        source,
        ledger=ledger,
        state_dir=None if settings is None else settings.home / "state",
        thresholds=overrides,
        explain="alerts" if settings is None else settings.service.explain,
        snapshot_seconds=300.0 if settings is None else settings.service.snapshot_seconds,
        history=history,
        store=store,
        max_lateness=_micros(None if settings is None else settings.state.max_lateness),
        event_ahead=(EventWindow() if settings is None else settings.api.event_window()).ahead,
        on_unavailable="refuse" if settings is None else settings.state.on_unavailable,
    )
    return engine.start()


def _micros(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1_000_000)


def __getattr__(name: str) -> Any:
    # The model engine pulls in numpy, polars and LightGBM; import it only when it is used.
    if name in ("ModelEngine", "ModelInfo", "ModelSource"):
        from frisk.engine import model

        return getattr(model, name)
    if name in ("ShadowScorer", "load_shadow"):
        from frisk.engine import shadow

        return getattr(shadow, name)
    raise AttributeError(f"module 'frisk.engine' has no attribute {name!r}")
