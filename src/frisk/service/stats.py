"""Live figures for /v1/stats: uptime, decisions since start, and a latency window."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

import numpy as np

__all__ = ["LiveStats"]


class LiveStats:
    """What this process has seen since it started.

    Latency percentiles are over the last ``window`` decisions rather than a uniform sample since
    start: an operator asks how the service is doing now, and a week of history would hide it.
    """

    def __init__(self, window: int) -> None:
        self.window = window
        self.started = time.monotonic()
        self._latencies: deque[float] = deque(maxlen=window)
        self._actions: Counter[str] = Counter()
        self._lock = threading.Lock()

    def observe(self, action: str, latency_ms: float) -> None:
        with self._lock:
            self._latencies.append(latency_ms)
            self._actions[action] += 1

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def actions(self) -> dict[str, int]:
        with self._lock:
            return dict(self._actions)

    def latency_percentiles(self) -> tuple[float, float] | None:
        """(p50, p99) in milliseconds, None before the first decision."""
        with self._lock:
            values = np.fromiter(self._latencies, dtype=np.float64, count=len(self._latencies))
        if values.size == 0:
            return None
        p50, p99 = np.percentile(values, [50, 99])
        return float(p50), float(p99)
