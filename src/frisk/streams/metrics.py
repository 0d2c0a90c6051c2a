"""A consumer's Prometheus metrics: messages by outcome, batch times, rate, lag.

Exported on ``127.0.0.1:consumer.metrics_port`` by ``frisk consume`` (off when 0). The rate is
also a gauge (messages decided per second over the last ``_RATE_WINDOW`` seconds) so a
dashboard without ``rate()`` can show it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["ConsumerMetrics"]

_RATE_WINDOW = 10.0  # seconds


class ConsumerMetrics:
    """The counters a ``Consumer`` updates; ``serve(port)`` exports them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.messages = Counter(
            "frisk_consumer_messages",
            "Messages handled, by stream and outcome (decided, replayed, dead_letter, label).",
            ["stream", "outcome"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "frisk_consumer_batch_seconds",
            "Time from a batch's delivery to its acknowledgement.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.retries = Counter(
            "frisk_consumer_retries",
            "Batches retried because the ledger, the state store or the engine refused them.",
            registry=self.registry,
        )
        self.lag = Gauge(
            "frisk_consumer_lag",
            "Messages of the stream the group has not acknowledged yet.",
            ["stream"],
            registry=self.registry,
        )
        self.rate = Gauge(
            "frisk_consumer_rate",
            f"Messages handled per second over the last {_RATE_WINDOW:g} s.",
            registry=self.registry,
        )
        self._done: deque[tuple[float, int]] = deque()

    def handled(self, count: int) -> None:
        """``count`` messages acknowledged now: move the rate gauge."""
        now = time.monotonic()
        self._done.append((now, count))
        while self._done and self._done[0][0] < now - _RATE_WINDOW:
            self._done.popleft()
        span = max(now - self._done[0][0], 1.0) if self._done else 1.0
        self.rate.set(sum(n for _, n in self._done) / span)

    def serve(self, port: int) -> Callable[[], None]:
        """Export on 127.0.0.1:``port`` from a daemon thread; returns what stops it."""
        server, thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop
