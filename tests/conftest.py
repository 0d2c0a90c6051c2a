"""Shared fixtures.

External services (PostgreSQL, Redis) are used when they answer. When one does not, its tests are
skipped with the reason, except under ``CI=true``, where a missing service fails the run: CI must
not go green by skipping what it was meant to test.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Two shared cores make wall-clock deadlines flaky; CI runs derandomized so a red run reproduces.
settings.register_profile(
    "frisk",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("CI") == "true",
)
settings.load_profile("frisk")

# Fixtures score simulated 2024 payments through the live API; the default live window
# (api.event_behind_days, 30) would refuse them. Tests of the window set it themselves.
os.environ.setdefault("FRISK_API__EVENT_BEHIND_DAYS", "36500")

POSTGRES_URL = os.environ.get(
    "FRISK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

_reachable: dict[tuple[str, int], bool] = {}


def _answers(host: str, port: int) -> bool:
    if (host, port) not in _reachable:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                _reachable[(host, port)] = True
        except OSError:
            _reachable[(host, port)] = False
    return _reachable[(host, port)]


@pytest.fixture(scope="session")
def require_service() -> Callable[[str, str, int], None]:
    """``require_service(name, host, port)``: skip (or under CI=true, fail) unless it answers."""

    def require(name: str, host: str, port: int) -> None:
        if _answers(host, port):
            return
        reason = f"{name} is not reachable at {host}:{port} (start it with `make services`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true, so a missing service is a failure")
        pytest.skip(reason)

    return require


@pytest.fixture
def postgres_url(require_service: Callable[[str, str, int], None]) -> Iterator[str]:
    """A URL whose connections live in a fresh PostgreSQL schema, dropped after the test."""
    import sqlalchemy as sa

    url = sa.make_url(POSTGRES_URL)
    require_service("PostgreSQL", url.host or "127.0.0.1", url.port or 5432)
    schema = f"frisk_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        # libpq's options put every connection of this URL in the schema, Alembic's table too.
        in_schema = url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield in_schema.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


class AmountEngine:
    """A deterministic test double of ``DecisionEngine``: scores by amount, counts its calls."""

    model_version = "test-amount-1"

    def __init__(self) -> None:
        self.calls = 0
        self.is_ready = True

    def ready(self) -> bool:
        return self.is_ready

    def reload(self) -> None:
        pass

    def decide(self, txn: Any) -> Any:
        from frisk.engine import Action, Reason, Verdict

        self.calls += 1
        score = min(txn.amount / 10_000, 1.0)
        risk = round(score * 100)
        action, tier = (
            (Action.BLOCK, "high")
            if risk >= 80
            else (Action.REVIEW, "medium")
            if risk >= 50
            else (Action.ALLOW, "low")
        )
        reason = Reason("amount", txn.amount, score, f"The amount is {txn.amount:.2f}.")
        return Verdict(
            score=score,
            risk_score=risk,
            risk_tier=tier,
            action=action,
            reasons=(reason,),
            features={"amount": txn.amount},
            model_version=self.model_version,
            timings={"engine": 0.01},
        )


@pytest.fixture
def amount_engine() -> AmountEngine:
    return AmountEngine()


@pytest.fixture
def txn_body() -> Callable[..., dict[str, Any]]:
    """``txn_body(id, **fields)``: a valid transaction as JSON, fields overridden."""

    def make(transaction_id: str = "t-1", **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "transaction_id": transaction_id,
            "timestamp": "2024-03-01T12:00:00+00:00",
            "amount": 120.0,
            "currency": "EUR",
            "payer_id": "payer-1",
            "payee_id": "payee-1",
        }
        body.update(fields)
        return body

    return make
