"""The demo's replay: payments in time order, each label sent before the first batch after it
arrived, the rest at the end; over a recording fake of the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import polars as pl

from frisk.client import FriskClient
from frisk.dashboard.replay import replay

T0 = datetime(2026, 12, 1, tzinfo=UTC)


class Recording:
    """What a FriskClient would have sent, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def score_batch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls.append(("score", [b["transaction_id"] for b in bodies]))
        return [{"action": "allow"} for _ in bodies]

    def post_labels(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(("labels", [i["transaction_id"] for i in items]))
        return {}


def _events(n: int, labels: dict[int, float]) -> pl.DataFrame:
    """``n`` payments a minute apart; ``labels``: row -> minutes after T0 its label arrived."""
    return pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "timestamp": [T0 + timedelta(minutes=i) for i in range(n)],
            "amount": [10.0] * n,
            "currency": ["EUR"] * n,
            "payer_id": ["p"] * n,
            "payee_id": ["q"] * n,
            "label": [1 if i in labels else None for i in range(n)],
            "label_timestamp": [
                T0 + timedelta(minutes=labels[i]) if i in labels else None for i in range(n)
            ],
            "label_source": ["analyst" if i in labels else None for i in range(n)],
        },
        schema_overrides={"label": pl.Int8},
    )


def test_labels_go_before_the_first_batch_after_their_arrival() -> None:
    table = _events(6, {0: 2.5, 1: 0.5, 3: 99.0})
    client = Recording()
    done = replay(cast(FriskClient, client), table, table, batch=2)
    assert client.calls == [
        ("score", ["t0", "t1"]),
        ("labels", ["t1"]),  # arrived at 0:30, before t2 (2:00)
        ("score", ["t2", "t3"]),
        ("labels", ["t0"]),  # arrived at 2:30, before t4 (4:00)
        ("score", ["t4", "t5"]),
        ("labels", ["t3"]),  # after the last payment: at the end
    ]
    assert (done.decisions, done.labels) == (6, 3)


def test_payments_are_replayed_in_time_order() -> None:
    table = _events(4, {}).reverse()
    client = Recording()
    replay(cast(FriskClient, client), table, table, batch=3)
    assert client.calls == [("score", ["t0", "t1", "t2"]), ("score", ["t3"])]
