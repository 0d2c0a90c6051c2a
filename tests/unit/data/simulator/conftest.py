"""Small simulations shared by the simulator's tests (each takes well under a second)."""

from __future__ import annotations

import polars as pl
import pytest

from frisk.data.simulator import SimulationConfig, simulate


@pytest.fixture(scope="session")
def table() -> pl.DataFrame:
    """Three weeks, no drift, a raised fraud rate so every scenario has a few episodes."""
    return simulate(SimulationConfig(days=21, payers=1500, seed=11, fraud_rate=0.03))


@pytest.fixture(scope="session")
def drifted() -> pl.DataFrame:
    return simulate(SimulationConfig(days=28, payers=1500, seed=5, fraud_rate=0.03, drift_at=14))
