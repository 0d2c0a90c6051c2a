"""Schemathesis against the app's own OpenAPI, with a real model engine: no input may give a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from frisk.config import load_settings
from frisk.data.simulator import SimulationConfig, simulate
from frisk.engine import load_engine
from frisk.models import save_model
from frisk.models.pipeline import train_events
from frisk.service.app import create_app
from frisk.service.keys import create_key
from frisk.store import Role, default_url, open_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("openapi_fuzz")]

_KEY: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("fuzz")
    table = simulate(SimulationConfig(days=10, payers=300, seed=1, fraud_rate=0.03))
    save_model(train_events(table), root / "model")
    home = root / "home"
    settings_ = load_settings(home=home, security={"rate_limit": {"enabled": False}})
    ledger = open_ledger(default_url(home))
    _KEY["X-API-Key"] = create_key(ledger, Role.ADMIN, "fuzz", actor="test")[0]
    engine = load_engine(root / "model", None, ledger=ledger, settings=settings_)
    app = create_app(settings_, engine, ledger=ledger)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    engine.close()
    ledger.close()


def test_no_server_errors(api_schema: Any) -> None:
    # Not schemathesis' pytest plugin: its fixture loader does not run on pytest 9.
    tested = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def no_5xx(case: Any) -> None:
            case.call_and_validate(headers=dict(_KEY), checks=[not_a_server_error])

        no_5xx()
        tested += 1
    assert tested >= 9
