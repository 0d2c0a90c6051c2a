"""Prometheus metrics of one app, in a registry of its own so apps (and tests) never collide."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "ServiceMetrics"]

# Milliseconds matter here: the service answers in a few of them.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SCORE_BUCKETS = tuple(i / 20 for i in range(1, 21))


class ServiceMetrics:
    """The counters and histograms the service updates, and their text exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
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
        self.model = Gauge(
            "frisk_model_info", "The model in use (value 1).", ["version"], registry=r
        )
        self._model_version: str | None = None

    def set_model_version(self, version: str | None) -> None:
        if version == self._model_version:
            return
        if self._model_version is not None:
            self.model.remove(self._model_version)
        if version is not None:
            self.model.labels(version=version).set(1)
        self._model_version = version

    def render(self) -> bytes:
        return generate_latest(self.registry)
