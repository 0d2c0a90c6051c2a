"""An app on a temporary SQLite ledger with the amount test engine, and a key per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frisk.config import load_settings
from frisk.service.app import create_app
from frisk.service.keys import create_key
from frisk.store import Role, SqlLedger, default_url, open_ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqlLedger]:
    store = open_ledger(default_url(tmp_path))
    yield store
    store.close()


@pytest.fixture
def keys(ledger: SqlLedger) -> dict[str, dict[str, str]]:
    """Header sets by role name."""
    return {
        role.value: {"X-API-Key": create_key(ledger, role, role.value, actor="test")[0]}
        for role in Role
    }


@pytest.fixture
def make_client(
    tmp_path: Path, ledger: SqlLedger, amount_engine: Any
) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(engine: Any = amount_engine, **overrides: Any) -> TestClient:
        settings = load_settings(home=tmp_path, **overrides)
        client = TestClient(create_app(settings, engine, ledger=ledger))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
