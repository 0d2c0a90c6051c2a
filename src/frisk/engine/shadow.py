"""Shadow scoring: a challenger scores the production feature vectors; recorded, never returned.

``ModelEngine.decide`` hands each new decision's feature vector to ``ShadowScorer.offer``, which
only appends it to a bounded queue: the request does not wait for the challenger. A background
thread scores what is queued in batches (one matrix, one ``predict``), applies the challenger's
own thresholds and writes its decisions to the ledger's ``shadow_decisions`` table. Nothing a
client sees changes. When the queue is full (the thread or the database cannot keep up) vectors
are dropped and counted rather than slowing production down.

A challenger must read the serving model's features in the same order and from the same
catalogue: it scores the vector production computed, so anything else would be scoring garbage.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from frisk.errors import ConflictError, ModelError
from frisk.models.registry import Registry
from frisk.models.scoring import FeatureValue, FraudModel
from frisk.store.ledger import Ledger, ShadowDecision

__all__ = ["ShadowHook", "ShadowScorer", "load_shadow"]

log = logging.getLogger("frisk.service.shadow")

_BATCH = 512


class ShadowHook(Protocol):
    """What ``ModelEngine.decide`` calls with each new decision's feature vector."""

    def offer(self, transaction_id: str, vector: Sequence[FeatureValue]) -> None: ...


def load_shadow(
    registry: Path,
    version: str,
    *,
    features: Sequence[str],
    catalogue_version: str | None,
    ledger: Ledger,
) -> ShadowScorer:
    """Load ``version`` from the registry as a shadow of a model reading ``features``.

    Raises ``NotFoundError`` (not registered), ``ArtifactError`` (broken artifact) or
    ``ConflictError`` (it reads other features); nothing is started then.
    """
    model = Registry(registry).load(version, num_threads=1)
    if model.feature_names != list(features):
        raise ConflictError(
            f"model {version} reads {len(model.feature_names)} features that differ from the "
            f"serving model's {len(features)}; a shadow scores production's feature vector, so "
            "it must read the same features in the same order"
        )
    stored = (model.catalogue or {}).get("version")
    if catalogue_version is not None and stored is not None and stored != catalogue_version:
        raise ConflictError(
            f"model {version} was trained with feature catalogue {stored}, the serving model "
            f"with {catalogue_version}; a shadow must read the same catalogue"
        )
    return ShadowScorer(model, ledger).start()


class ShadowScorer:
    """Scores offered vectors with ``model`` in a thread and records them in the ledger."""

    def __init__(self, model: FraudModel, ledger: Ledger, *, capacity: int = 10_000) -> None:
        self.model = model
        self.version = model.version or "unversioned"
        self.ledger = ledger
        self.loaded_at = datetime.now(UTC)
        self._queue: queue.Queue[tuple[str, Sequence[FeatureValue], datetime] | None] = queue.Queue(
            maxsize=capacity
        )
        self._thread = threading.Thread(target=self._run, name="frisk-shadow", daemon=True)
        self.scored = 0
        self.dropped = 0
        self.failed = 0

    def start(self) -> ShadowScorer:
        self._thread.start()
        return self

    def offer(self, transaction_id: str, vector: Sequence[FeatureValue]) -> None:
        """Queue one vector; never blocks (a full queue drops it and counts the drop)."""
        try:
            self._queue.put_nowait((transaction_id, vector, datetime.now(UTC)))
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything offered so far is recorded; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Record what is queued, then stop the thread."""
        if not self._thread.is_alive():
            return
        self._queue.put(None)
        self._thread.join(timeout)

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [b for b in batch if b is not None]
            try:
                if items:
                    self._record(items)
                    self.scored += len(items)
            except Exception:  # a shadow must never take the service down; count and go on
                self.failed += len(items)
                log.exception("shadow model %s failed to score or record a batch", self.version)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if any(b is None for b in batch):
                return

    def _record(self, items: list[tuple[str, Sequence[FeatureValue], datetime]]) -> None:
        model = self.model
        good: list[tuple[str, Sequence[FeatureValue], datetime]] = []
        vectors = []
        for item in items:
            try:
                vectors.append(model.row(item[1]))
            except ModelError:  # one bad vector must not cost the batch
                self.failed += 1
                continue
            good.append(item)
        if not good:
            return
        items = good
        matrix = np.vstack(vectors)
        scores = model.calibrator.transform(model.margins(matrix))
        assessed = model.assess_scores(scores)
        rows = [
            ShadowDecision(
                transaction_id=txn,
                model_version=self.version,
                score=float(score),
                risk_score=int(risk),
                tier=str(tier),
                action=str(action),
                created_at=at,
            )
            for (txn, _, at), score, risk, tier, action in zip(
                items,
                scores,
                assessed.get_column("risk_score").to_list(),
                assessed.get_column("risk_tier").to_list(),
                assessed.get_column("action").to_list(),
                strict=True,
            )
        ]
        self.ledger.record_shadow_decisions(rows)
