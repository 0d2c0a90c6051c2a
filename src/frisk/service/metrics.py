"""Prometheus metrics of one app, in a registry of its own so apps (and tests) never collide.

Under ``frisk serve --workers N`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR``: every worker's
counters, histograms and gauges are kept in files there (prometheus-client's multiprocess mode),
and ``render`` from any worker reports the group's totals. Gauges say how workers combine: the
ledger's figures (live performance, drift) are the same in every worker, so the most recent
wins; the model in use is the highest over live workers, per version. Counters and histograms
of other parts (rule hits in ``frisk.engine.policy``, GC pauses) go to the same files in this
mode; the collectors they register on ``registry`` then report only what is the answering
worker's own (the policy version it decides with).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from frisk.monitoring import DriftReport, PerformanceRow

__all__ = ["CONTENT_TYPE", "ServiceMetrics", "forget_dead_workers", "multiprocess_dir"]

_MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"
GaugeMode = Literal["mostrecent", "livemax", "livesum"]


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multiprocess mode, None when it is off."""
    return os.environ.get(_MULTIPROC) or None


_LIVE_GAUGE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def forget_dead_workers(directory: Path) -> list[int]:
    """Remove the live gauges (``live*`` modes) of workers no longer running; their pids.

    prometheus-client keeps a process's gauge file until ``mark_process_dead`` is called for it,
    which nothing does for a worker that was killed (uvicorn's supervisor replaces it): its
    ``livesum`` gauges stayed in every worker's total, and its ``livemax`` ones in the maximum.
    Counters and histograms keep a dead worker's files on purpose: totals never go back.
    """
    from prometheus_client import multiprocess

    from frisk.service.worker_stats import alive

    dead = set()
    for path in directory.glob("gauge_live*_*.db"):
        found = _LIVE_GAUGE.fullmatch(path.name)
        if found is not None and not alive(int(found.group(1))):
            dead.add(int(found.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return sorted(dead)


# Milliseconds matter here: the service answers in a few of them.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SCORE_BUCKETS = tuple(i / 20 for i in range(1, 21))


class ServiceMetrics:
    """The counters and histograms the service updates, and their text exposition."""

    def __init__(self) -> None:
        # Other parts register their collectors here. In multiprocess mode the metrics below
        # live in the directory's files, so they go to a registry of their own, never rendered.
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess_dir() is not None
        r = CollectorRegistry(auto_describe=True) if self.multiprocess else self.registry

        def gauge(name: str, text: str, labels: Sequence[str] = (), *, mode: GaugeMode) -> Gauge:
            extra: dict[str, Any] = {"multiprocess_mode": mode} if self.multiprocess else {}
            return Gauge(name, text, labels, registry=r, **extra)

        self.requests = Counter(
            "frisk_http_requests", "HTTP requests.", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "frisk_http_request_duration_seconds",
            "HTTP request latency, from the first byte in to the last byte out.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "frisk_decisions", "New decisions (replays excluded).", ["action", "tier"], registry=r
        )
        self.replays = Counter(
            "frisk_decision_replays", "Retries answered from the ledger.", registry=r
        )
        self.degraded = Counter(
            "frisk_decisions_degraded", "Decisions made by a fallback.", registry=r
        )
        self.scores = Histogram(
            "frisk_decision_score", "Scores of new decisions.", buckets=_SCORE_BUCKETS, registry=r
        )
        self.errors = Counter("frisk_errors", "Error responses by type.", ["type"], registry=r)
        # The ledger's group commits: every decision waits for one before it is returned.
        self.commit_seconds = Histogram(
            "frisk_ledger_commit_seconds",
            "Time to insert and commit one group of decisions (fsync included).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_size = Histogram(
            "frisk_ledger_commit_decisions",
            "Decisions per group commit.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.model = gauge(
            "frisk_model_info", "The model in use (value 1).", ["version"], mode="livemax"
        )
        self._model_version: str | None = None
        self.model_reload_failed = gauge(
            "frisk_model_reload_failed",
            "1 while the registry's production version could not be swapped in (GET /v1/models "
            "says why); the previous model keeps serving.",
            mode="livemax",
        )
        # The feedback loop: live performance per model over the last days, and drift. Set from
        # the ledger when /metrics is scraped (at most every monitoring.refresh_seconds).
        live = ["model_version", "role"]
        self.live = {
            name: gauge(f"frisk_live_{name}", text, live, mode="mostrecent")
            for name, text in (
                ("decisions", "Decisions over the live window (monitoring.live_days)."),
                ("alerts", "Of which review or block."),
                ("alert_rate", "Alerts / decisions."),
                ("labelled", "Of the decisions, labelled so far."),
                ("fraud", "Of the decisions, labelled fraud so far."),
                ("alerted_fraud", "Labelled fraud that was alerted."),
                ("precision", "Alerted fraud / alerts (labels so far)."),
                ("recall", "Alerted fraud / labelled fraud."),
                ("fraud_amount", "Amount of labelled fraud."),
                ("amount_caught", "Amount of labelled fraud that was alerted."),
            )
        }
        self.alert_budget = gauge(
            "frisk_alert_budget", "Share of decisions the team can review.", mode="mostrecent"
        )
        self.drift_score = gauge(
            "frisk_drift_score_psi", "PSI of the score, live window vs training.", mode="mostrecent"
        )
        self.drift_feature = gauge(
            "frisk_drift_feature_psi",
            "PSI of a top feature, live vs training.",
            ["feature"],
            mode="mostrecent",
        )
        self.drift_alert_level = gauge(
            "frisk_drift_psi_alert_level", "PSI at which drift is alerted.", mode="mostrecent"
        )
        self.drift_window = gauge(
            "frisk_drift_window_decisions", "Decisions in the live drift window.", mode="mostrecent"
        )
        self.shadow_scored = gauge(
            "frisk_shadow_scored",
            "Decisions the shadow model recorded.",
            ["model_version"],
            mode="livesum",
        )
        self.shadow_dropped = gauge(
            "frisk_shadow_dropped",
            "Vectors the shadow dropped (queue full).",
            ["model_version"],
            mode="livesum",
        )

        # Out-of-order transactions (frisk.features.online): cumulative, from the engine.
        self.late_events = gauge(
            "frisk_feature_late_events",
            "Transactions behind the feature clock (an out-of-order arrival), learnt at the "
            "clock's time, since start.",
            mode="livesum",
        )
        self.late_refused = gauge(
            "frisk_feature_late_refused",
            "Transactions refused (422) for being further behind the feature clock than "
            "state.max_lateness, since start.",
            mode="livesum",
        )
        self.changes_applied = gauge(
            "frisk_feature_changes_applied",
            "Changes other processes made to shared feature state (or to records this one did "
            "not hold) applied to this process's copies, since start.",
            mode="livesum",
        )

    def observe_commit(self, decisions: int, seconds: float) -> None:
        """One group commit of the ledger (called from the recorder's thread)."""
        self.commit_seconds.observe(seconds)
        self.commit_size.observe(decisions)

    def set_model_version(self, version: str | None) -> None:
        if version == self._model_version:
            return
        if self._model_version is not None:
            # Multiprocess mode keeps a removed series in its file: 0 first, so it reads 0.
            self.model.labels(version=self._model_version).set(0)
            self.model.remove(self._model_version)
        if version is not None:
            self.model.labels(version=version).set(1)
        self._model_version = version

    def set_live(self, models: Sequence[PerformanceRow], budget: float) -> None:
        """Replace the live gauges with these per-model totals (None rates are left out)."""
        self.alert_budget.set(budget)
        for gauge in self.live.values():
            gauge.clear()
        for row in models:
            for name, gauge in self.live.items():
                value = getattr(row, name)
                if value is not None:
                    gauge.labels(model_version=row.model_version, role=row.role).set(value)

    def set_drift(self, report: DriftReport | None, alert_level: float) -> None:
        """Replace the drift gauges; a None PSI (too few decisions) is left out."""
        self.drift_alert_level.set(alert_level)
        self.drift_feature.clear()
        if report is None:
            self.drift_window.set(0)
            return
        self.drift_window.set(report.window.decisions)
        if report.score.psi is not None:
            self.drift_score.set(report.score.psi)
        for feature in report.features:
            if feature.psi is not None:
                self.drift_feature.labels(feature=feature.name).set(feature.psi)

    def set_shadow(self, version: str | None, scored: int, dropped: int) -> None:
        self.shadow_scored.clear()
        self.shadow_dropped.clear()
        if version is not None:
            self.shadow_scored.labels(model_version=version).set(scored)
            self.shadow_dropped.labels(model_version=version).set(dropped)

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        directory = multiprocess_dir()
        assert directory is not None
        forget_dead_workers(Path(directory))
        group = CollectorRegistry()
        multiprocess.MultiProcessCollector(group)  # type: ignore[no-untyped-call]
        return generate_latest(group) + generate_latest(self.registry)
