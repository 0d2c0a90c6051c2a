"""Replay an event table into a running API, as a payment system and a chargeback feed would.

``frisk demo`` uses it to fill the review queue and the charts: payments go to POST
/v1/score/batch in time order and, between the batches, the labels that had arrived by then go to
POST /v1/labels, so label features and live precision see them when a running service would.
Everything goes over HTTP, through ``FriskClient``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from frisk.client import ApiError, FriskClient
from frisk.data.table import labels_of, transactions_of

__all__ = ["ReplayResult", "replay"]


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


def replay(
    client: FriskClient,
    payments: pl.DataFrame,
    labels: pl.DataFrame,
    *,
    batch: int = 100,
    progress: Callable[[ReplayResult], None] | None = None,
) -> ReplayResult:
    """Score ``payments`` in time order, ``batch`` at a time; before each batch, send the labels
    of ``labels`` (an event table: any transaction, replayed or earlier) that arrived by its
    first payment; the labels left after the last batch go at the end."""
    result = ReplayResult()
    began = time.perf_counter()
    arrivals = _arrivals(labels)
    pending_label = next(arrivals, None)
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal pending_label
        first = datetime.fromisoformat(pending[0]["timestamp"])
        arrived: list[dict[str, Any]] = []
        while pending_label is not None and pending_label[0] <= first:
            arrived.append(pending_label[1])
            pending_label = next(arrivals, None)
        _send_labels(client, arrived, result, batch)
        decided = _retrying(lambda: client.score_batch(pending), result)
        result.actions.update(str(d["action"]) for d in decided)
        if progress is not None:
            progress(result)

    for body in transactions_of(payments.sort("timestamp", maintain_order=True)):
        pending.append(body)
        if len(pending) == batch:
            flush()
            pending = []
    if pending:
        flush()
    rest = [] if pending_label is None else [pending_label[1], *(body for _, body in arrivals)]
    _send_labels(client, rest, result, batch)
    result.seconds = time.perf_counter() - began
    return result


def _arrivals(table: pl.DataFrame) -> Iterator[tuple[datetime, dict[str, Any]]]:
    """Each label's arrival time and POST /v1/labels item, in arrival order."""
    for row in labels_of(table).iter_rows(named=True):
        yield (
            row["label_timestamp"],
            {
                "transaction_id": row["transaction_id"],
                "label": "fraud" if row["label"] == 1 else "legit",
                "source": row["label_source"] or "chargeback",
                "label_timestamp": row["label_timestamp"].isoformat(),
            },
        )


def _send_labels(
    client: FriskClient, items: list[dict[str, Any]], result: ReplayResult, batch: int
) -> None:
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        _retrying(lambda: client.post_labels(chunk), result)  # noqa: B023  (called at once)
        result.labels += len(chunk)


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
