"""Short garbage-collector pauses in a long-running service, and their metrics.

CPython's cyclic collector walks every tracked object of the generations it collects, and a full
(generation 2) collection walks all of them. The online feature state is hundreds of thousands of
small lists that live for days. Measured under load (16 connections, ~1,400 decisions/s, a fresh
service): each full collection took longer as the state grew, 29, 66, 101 ... 263 ms, one every
~2 s, and every request in flight waited for it (p50 10 ms, p99 240 ms).

``GcPauses`` freezes the survivors after each full collection (``gc.freeze()``): they move to the
permanent generation, which later collections skip, so a full collection walks only what
survived since the one before. The trade-off: cyclic garbage made of objects that were alive at a
freeze is never reclaimed (acyclic garbage still is, by reference counting). What survives a full
collection in the service is its long-lived state (features, caches, the app), which it drops by
reference counting when entities expire. ``service.gc_freeze`` turns the freezing off.

It also counts every collection's pause per generation, exported as the histogram
``frisk_gc_pause_seconds`` and the gauge ``frisk_gc_frozen_objects`` when /metrics is scraped:
the callback runs inside the collector, at any allocation, so it must not take a lock that the
interrupted code could hold (prometheus-client's metrics do), and only adds to plain lists.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["GcPauses"]

# Seconds: a pause worth reporting starts around a tenth of a millisecond.
_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_GENERATIONS = 3


class GcPauses(Collector):
    """The garbage collector's pauses, measured (and bounded by freezing) while installed."""

    def __init__(self, *, freeze: bool, young_threshold: int | None = None) -> None:
        self.freeze = freeze
        # Allocations between young-generation collections while installed (None: as it was).
        self.young_threshold = young_threshold
        self._thresholds: tuple[int, int, int] | None = None
        # Per generation: a count per bucket (the last one: above every bucket), and the sum.
        self.counts = [[0] * (len(_BUCKETS) + 1) for _ in range(_GENERATIONS)]
        self.sums = [0.0] * _GENERATIONS
        self.freezes = 0
        self._began = 0.0

    def install(self) -> GcPauses:
        """Start measuring; with ``freeze``, first freeze what start-up made (modules, the model,
        the warmed state: ~200k objects, whose first full collection under load took 157 ms)."""
        if self._callback not in gc.callbacks:
            if self.freeze:
                gc.collect()
                gc.freeze()
            if self.young_threshold is not None:
                self._thresholds = gc.get_threshold()
                gc.set_threshold(self.young_threshold, *self._thresholds[1:])
            gc.callbacks.append(self._callback)
        return self

    def remove(self) -> None:
        """Stop; with ``freeze``, give the collector back what was frozen, so that an app that
        stopped (its engine, state and caches) can be collected in a process that goes on."""
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
            if self._thresholds is not None:
                gc.set_threshold(*self._thresholds)
                self._thresholds = None
            if self.freeze:
                gc.unfreeze()

    def collect(self) -> Iterator[HistogramMetricFamily | GaugeMetricFamily]:
        histogram = HistogramMetricFamily(
            "frisk_gc_pause_seconds",
            "Pauses of Python's cyclic garbage collector, by generation.",
            labels=["generation"],
        )
        for generation in range(_GENERATIONS):
            cumulative, buckets = 0, []
            bounds = [*map(repr, _BUCKETS), "+Inf"]
            for bound, count in zip(bounds, self.counts[generation], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            histogram.add_metric([str(generation)], buckets, self.sums[generation])
        yield histogram
        yield GaugeMetricFamily(
            "frisk_gc_frozen_objects",
            "Objects in the permanent generation, which collections skip (service.gc_freeze).",
            value=gc.get_freeze_count(),
        )

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        pause = time.perf_counter() - self._began
        generation = info["generation"]
        self.counts[generation][bisect.bisect_left(_BUCKETS, pause)] += 1
        self.sums[generation] += pause
        if generation == _GENERATIONS - 1 and self.freeze:
            gc.freeze()
            self.freezes += 1
