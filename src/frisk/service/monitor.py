"""The service's side of the feedback loop: promotions, the shadow model, live figures, drift.

``ModelOps`` is built by ``create_app`` next to the engine. It knows the registry the engine
serves from (if any), follows its production pointer (``RegistryWatcher``), loads and unloads a
challenger in shadow, and computes live performance and drift from the ledger for the routes and
the Prometheus gauges. Every swap checks the new model completely first; on any failure the model
that was serving keeps serving and the error says why.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from frisk.config import Settings
from frisk.engine import CountsLateness, DecisionEngine
from frisk.errors import ConflictError, FriskError
from frisk.models.registry import Registry
from frisk.monitoring import (
    DriftReport,
    Performance,
    ageing_features,
    drift_report,
    live_performance,
    read_window,
    reference_of,
)
from frisk.monitoring.watcher import RegistryWatcher
from frisk.service.metrics import ServiceMetrics
from frisk.store.ledger import Ledger

__all__ = ["ModelOps"]

log = logging.getLogger("frisk.service")


class ModelOps:
    """Registry, shadow and monitoring for one app (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        engine: DecisionEngine | None,
        metrics: ServiceMetrics,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.decision_engine = engine
        self.metrics = metrics
        source = getattr(engine, "source", None)
        root: Path | None = getattr(source, "registry", None)
        self.registry = Registry(root) if root is not None else None
        self.shadow: Any = None  # a ShadowScorer while a challenger is in shadow
        self.shadow_error: str | None = None
        self.watcher: RegistryWatcher | None = None
        self._lock = threading.Lock()  # one swap (promote, rollback, reload, shadow) at a time
        self._refreshed = -float("inf")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ModelOps:
        """Load the configured shadow and start following the registry pointer."""
        wanted = self.settings.monitoring.shadow_version
        if wanted:
            try:
                self.set_shadow(wanted)
            except FriskError as exc:  # the service starts anyway; GET /v1/models says why
                self.shadow_error = f"shadow model {wanted} not loaded: {exc}"
                log.warning("%s", self.shadow_error)
        if self.registry is not None and self.decision_engine is not None:
            engine = self.decision_engine
            self.watcher = RegistryWatcher(
                self.registry,
                lambda: engine.model_version,
                self.reload,
                self.settings.monitoring.registry_poll_seconds,
            ).start()
        return self

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
        self._stop_shadow()

    # -- models ----------------------------------------------------------------------------

    def require_registry(self) -> Registry:
        if self.registry is None:
            raise ConflictError(
                "the service serves a model directory, not a registry; start it with --registry "
                "to promote, roll back or shadow registered versions"
            )
        return self.registry

    def promote(self, version: str) -> tuple[str, str]:
        """Check ``version`` against the serving model, move the pointer, swap; (before, after)."""
        registry = self.require_registry()
        engine = self._engine()
        with self._lock:
            before = engine.model_version
            self._check_compatible(registry, version)
            previous = registry.production()
            registry.promote(version)
            try:
                self._swap_locked()
            except Exception:
                if previous is not None and previous != version:  # put the pointer back
                    registry.promote(previous)
                raise
            return before, engine.model_version

    def rollback(self) -> tuple[str, str]:
        """Return the pointer to the version before the current one and swap it in."""
        registry = self.require_registry()
        engine = self._engine()
        with self._lock:
            before = engine.model_version
            current = registry.production()
            registry.rollback()
            try:
                self._swap_locked()
            except Exception:
                if current is not None:
                    registry.promote(current)
                raise
            return before, engine.model_version

    def set_shadow(self, version: str | None) -> None:
        """Score ``version`` in shadow from now on (None: stop); on failure nothing changes."""
        if version is None:
            with self._lock:
                self._stop_shadow()
                self.shadow_error = None
            return
        registry = self.require_registry()
        engine = self._engine()
        if version == engine.model_version:
            raise ConflictError(f"{version} is the model serving; shadow another version")
        from frisk.engine import load_shadow

        info = getattr(engine, "info", None)
        if info is None or not hasattr(engine, "shadow"):
            raise ConflictError("this decision engine cannot score a shadow model")
        serving = info()
        scorer = load_shadow(
            registry.root,
            version,
            features=engine.model.feature_names,  # type: ignore[attr-defined]
            catalogue_version=serving.catalogue_version,
            ledger=self.ledger,
        )
        with self._lock:
            old = self.shadow
            engine.shadow = scorer  # type: ignore[attr-defined]
            self.shadow, self.shadow_error = scorer, None
        if old is not None:
            old.close()
        log.info("model %s now scores in shadow", version)

    def shadow_version(self) -> str | None:
        return None if self.shadow is None else str(self.shadow.version)

    # -- monitoring ------------------------------------------------------------------------

    def performance(self, days: int) -> Performance:
        version = self.decision_engine.model_version if self.decision_engine is not None else None
        shadow = [v for v in (self.shadow_version(),) if v is not None]
        return live_performance(
            self.ledger,
            days=days,
            budget=self.settings.api.alert_budget,
            production=version,
            shadow=shadow,
        )

    def drift(self, decisions: int | None = None, hours: float | None = None) -> DriftReport:
        """PSI of the serving model's latest decisions against its training reference."""
        cfg = self.settings.monitoring
        engine = self._engine()
        model = getattr(engine, "model", None)
        if model is None:
            raise ConflictError("this decision engine exposes no model to measure drift against")
        reference = reference_of(model)
        if reference is None:
            raise ConflictError(
                f"model {engine.model_version} stores no training reference (trained before "
                "drift monitoring); retrain it to measure drift"
            )
        window = read_window(
            self.ledger,
            model,
            last=decisions or cfg.drift_window,
            hours=hours if hours is not None else cfg.drift_hours,
        )
        return drift_report(
            reference,
            window,
            alert_level=cfg.psi_alert,
            min_decisions=cfg.drift_min_decisions,
            ageing=ageing_features(model.catalogue),
        )

    def refresh_gauges(self, *, force: bool = False) -> None:
        """Recompute the live and drift gauges, at most every ``refresh_seconds``."""
        watcher = self.watcher
        failed = watcher is not None and watcher.last_error is not None
        self.metrics.model_reload_failed.set(1 if failed else 0)
        if isinstance(self.decision_engine, CountsLateness):
            late, refused = self.decision_engine.feature_lateness()
            self.metrics.late_events.set(late)
            self.metrics.late_refused.set(refused)
            self.metrics.changes_applied.set(self.decision_engine.feature_changes_applied())
        cfg = self.settings.monitoring
        if not force and time.monotonic() - self._refreshed < cfg.refresh_seconds:
            return
        self._refreshed = time.monotonic()
        self.metrics.set_live(
            self.performance(cfg.live_days).models, self.settings.api.alert_budget
        )
        try:
            report: DriftReport | None = self.drift()
        except ConflictError:  # no engine model or no reference: no drift gauges
            report = None
        self.metrics.set_drift(report, cfg.psi_alert)
        shadow = self.shadow
        if shadow is None:
            self.metrics.set_shadow(None, 0, 0)
        else:
            self.metrics.set_shadow(shadow.version, shadow.scored, shadow.dropped)

    # -- internals -------------------------------------------------------------------------

    def _engine(self) -> DecisionEngine:
        if self.decision_engine is None:
            from frisk.service.errors import NotReadyError

            raise NotReadyError("no decision engine is loaded")
        return self.decision_engine

    def _check_compatible(self, registry: Registry, version: str) -> None:
        """Refuse, before the pointer moves, a version the engine could not swap in."""
        candidate = registry.load(version, num_threads=1)  # ArtifactError when broken
        info = getattr(self.decision_engine, "info", None)
        if info is None:
            return
        serving = info().catalogue_version
        stored = (candidate.catalogue or {}).get("version")
        if stored is not None and stored != serving:
            raise ConflictError(
                f"model {version} reads feature catalogue {stored}, the serving model "
                f"{serving}; its online state cannot be swapped in place. Promote it with "
                f"`frisk models promote` and restart the service. Still serving "
                f"{self._engine().model_version}."
            )

    def reload(self) -> None:
        """Swap in the source's current model (the registry's production version)."""
        with self._lock:
            self._swap_locked()

    def _swap_locked(self) -> None:
        engine = self._engine()
        engine.reload()
        self.metrics.set_model_version(engine.model_version)
        if self.shadow is not None and self.shadow.version == engine.model_version:
            self._stop_shadow()  # the challenger was promoted: it is no shadow any more
        if self.watcher is not None:
            self.watcher.forget_failure()

    def _stop_shadow(self) -> None:
        old = self.shadow
        if old is None:
            return
        if self.decision_engine is not None and hasattr(self.decision_engine, "shadow"):
            self.decision_engine.shadow = None  # type: ignore[attr-defined]
        self.shadow = None
        old.close()
