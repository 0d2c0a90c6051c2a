"""Replay an event table into a running API, as a payment system and a chargeback feed would.

``frisk demo`` uses it to fill the review queue and the charts: payments go to POST
/v1/score/batch in time order, then the labels that had arrived by the last payment's time go to
POST /v1/labels. Everything goes over HTTP, through ``FriskClient``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from frisk.client import ApiError, FriskClient
from frisk.data.table import labels_of, transactions_of

__all__ = ["ReplayResult", "replay_labels", "replay_payments"]


@dataclass
class ReplayResult:
    """What a replay did: decisions by action, labels sent, retries after 429s."""

    actions: Counter[str] = field(default_factory=Counter)
    labels: int = 0
    throttled: int = 0
    seconds: float = 0.0

    @property
    def decisions(self) -> int:
        return sum(self.actions.values())


def replay_payments(
    client: FriskClient,
    table: pl.DataFrame,
    *,
    batch: int = 100,
    progress: Callable[[ReplayResult], None] | None = None,
) -> ReplayResult:
    """Score every row of ``table`` in order, ``batch`` at a time."""
    result = ReplayResult()
    began = time.perf_counter()
    pending: list[dict[str, Any]] = []
    for body in transactions_of(table):
        pending.append(body)
        if len(pending) == batch:
            _send(client, pending, result)
            pending = []
            if progress is not None:
                progress(result)
    if pending:
        _send(client, pending, result)
    result.seconds = time.perf_counter() - began
    return result


def replay_labels(
    client: FriskClient,
    table: pl.DataFrame,
    known_by: datetime,
    *,
    batch: int = 100,
    result: ReplayResult | None = None,
) -> ReplayResult:
    """Send the labels of ``table``'s rows that had arrived by ``known_by``."""
    result = result or ReplayResult()
    arrived = labels_of(table).filter(pl.col("label_timestamp") <= known_by)
    items = [
        {
            "transaction_id": row["transaction_id"],
            "label": "fraud" if row["label"] == 1 else "legit",
            "source": row["label_source"] or "chargeback",
            "label_timestamp": row["label_timestamp"].isoformat(),
        }
        for row in arrived.iter_rows(named=True)
    ]
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        _retrying(lambda: client.post_labels(chunk), result)  # noqa: B023  (called at once)
        result.labels += len(chunk)
    return result


def _send(client: FriskClient, bodies: list[dict[str, Any]], result: ReplayResult) -> None:
    decided = _retrying(lambda: client.score_batch(bodies), result)
    result.actions.update(str(d["action"]) for d in decided)


def _retrying(call: Callable[[], Any], result: ReplayResult, attempts: int = 20) -> Any:
    """The call, waited out and retried while the API says 429 (its rate limit)."""
    for _ in range(attempts):
        try:
            return call()
        except ApiError as exc:
            if exc.status != 429:
                raise
            result.throttled += 1
            time.sleep(min(float(exc.retry_after or 1), 5.0))
    return call()
