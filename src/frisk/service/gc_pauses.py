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

Under ``frisk serve --workers N`` (``shared``: prometheus-client's multiprocess mode) /metrics
must report every worker's pauses, not the answering one's: the callback then only queues each
pause, and a thread of each worker moves the queue into a multiprocess histogram (and the frozen
count into a gauge, the highest of the live workers) every ``flush_seconds``.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from prometheus_client import Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from frisk.monitoring.poller import Poller

__all__ = ["GcPauses"]

# Seconds: a pause worth reporting starts around a tenth of a millisecond.
_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_GENERATIONS = 3
RECOUNT_SECONDS = 60.0
_PAUSES = "frisk_gc_pause_seconds"
_PAUSES_HELP = "Pauses of Python's cyclic garbage collector, by generation."
_FROZEN = "frisk_gc_frozen_objects"
_FROZEN_HELP = "Objects in the permanent generation, which collections skip (service.gc_freeze)."


class GcPauses(Collector):
    """The garbage collector's pauses, measured (and bounded by freezing) while installed."""

    def __init__(
        self,
        *,
        freeze: bool,
        young_threshold: int | None = None,
        shared: bool = False,
        flush_seconds: float = 1.0,
    ) -> None:
        self.freeze = freeze
        # Allocations between young-generation collections while installed (None: as it was).
        self.young_threshold = young_threshold
        self._thresholds: tuple[int, int, int] | None = None
        # Per generation: a count per bucket (the last one: above every bucket), and the sum.
        self.counts = [[0] * (len(_BUCKETS) + 1) for _ in range(_GENERATIONS)]
        self.sums = [0.0] * _GENERATIONS
        self.freezes = 0
        self._began = 0.0
        # gc.get_freeze_count() walks every frozen object: kept, and counted again only after a
        # freeze, at most every RECOUNT_SECONDS.
        self._frozen_count: int | None = None
        self._counted_after = 0  # freezes when it was counted
        self._counted_at = 0.0
        # Shared: (generation, pause) queued by the callback (deque.append takes no lock).
        self.shared = shared
        self._queue: deque[tuple[int, float]] = deque(maxlen=100_000)
        self.flush_seconds = flush_seconds
        self._flusher: _Flusher | None = None
        self.histogram: Histogram | None = None
        self.frozen_gauge: Gauge | None = None
        if shared:
            self.histogram = Histogram(
                _PAUSES, _PAUSES_HELP, ["generation"], buckets=_BUCKETS, registry=None
            )
            for generation in range(_GENERATIONS):  # exported from the start, at 0
                self.histogram.labels(generation=str(generation))
            self.frozen_gauge = Gauge(
                _FROZEN, _FROZEN_HELP, registry=None, multiprocess_mode="livemax"
            )

    def install(self) -> GcPauses:
        """Start measuring; with ``freeze``, first freeze what start-up made (modules, the model,
        the warmed state: ~200k objects, whose first full collection under load took 157 ms)."""
        if self._callback not in gc.callbacks:
            self._frozen_count = None  # counted afresh
            if self.freeze:
                gc.collect()
                gc.freeze()
            if self.young_threshold is not None:
                self._thresholds = gc.get_threshold()
                gc.set_threshold(self.young_threshold, *self._thresholds[1:])
            gc.callbacks.append(self._callback)
            if self.shared:
                self._flusher = _Flusher(self, self.flush_seconds).start()
        return self

    def remove(self) -> None:
        """Stop; with ``freeze``, give the collector back what was frozen, so that an app that
        stopped (its engine, state and caches) can be collected in a process that goes on."""
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
            if self._flusher is not None:
                self._flusher.close()
                self._flusher = None
                self.flush()
            if self._thresholds is not None:
                gc.set_threshold(*self._thresholds)
                self._thresholds = None
            if self.freeze:
                gc.unfreeze()
                self._frozen_count = None

    def flush(self) -> None:
        """Shared: move the queued pauses and the frozen count into the multiprocess files."""
        if self.histogram is None or self.frozen_gauge is None:
            return
        queue = self._queue
        while queue:
            generation, pause = queue.popleft()
            self.histogram.labels(generation=str(generation)).observe(pause)
        self.frozen_gauge.set(self.frozen_objects())

    def frozen_objects(self) -> int:
        """Objects in the permanent generation, at most ``RECOUNT_SECONDS`` old.

        ``gc.get_freeze_count()`` walks the whole permanent generation, holding the GIL: 56 ms
        for 3 million objects, and a service's feature state is millions. Called every second
        (the shared flush), it cost a worker ~0.08 ms of CPU per decision at ~480 decisions/s.
        """
        now = time.monotonic()
        if self._frozen_count is None or (
            self.freezes != self._counted_after and now - self._counted_at >= RECOUNT_SECONDS
        ):
            self._counted_after, self._counted_at = self.freezes, now
            self._frozen_count = gc.get_freeze_count()
        return self._frozen_count

    def collect(self) -> Iterator[HistogramMetricFamily | GaugeMetricFamily]:
        if self.shared:
            return  # the multiprocess files hold them
        histogram = HistogramMetricFamily(_PAUSES, _PAUSES_HELP, labels=["generation"])
        for generation in range(_GENERATIONS):
            cumulative, buckets = 0, []
            bounds = [*map(repr, _BUCKETS), "+Inf"]
            for bound, count in zip(bounds, self.counts[generation], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            histogram.add_metric([str(generation)], buckets, self.sums[generation])
        yield histogram
        yield GaugeMetricFamily(_FROZEN, _FROZEN_HELP, value=self.frozen_objects())

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        pause = time.perf_counter() - self._began
        generation = info["generation"]
        self.counts[generation][bisect.bisect_left(_BUCKETS, pause)] += 1
        self.sums[generation] += pause
        if self.shared:
            self._queue.append((generation, pause))
        if generation == _GENERATIONS - 1 and self.freeze:
            gc.freeze()
            self.freezes += 1


class _Flusher(Poller):
    what = "moving GC pauses into the metrics files"

    def __init__(self, pauses: GcPauses, interval: float) -> None:
        super().__init__(interval, name="frisk-gc-metrics", at_start=True)
        self.pauses = pauses

    def check(self) -> bool:
        self.pauses.flush()
        return True
