"""A realistic labelled payment simulator: ``simulate(SimulationConfig(days=30, payers=5000))``.

Payers with spending habits, devices and contacts pay merchants and each other with daily and
weekly rhythms; fraud scenarios (account takeover, card testing, a compromised merchant, mule
accounts, social engineering, amount anomalies, friendly fraud) are mixed in at a chosen rate,
with label events arriving days to weeks later. ``drift_at`` changes the fraud mix and some legit
habits from a given day on.
"""

from __future__ import annotations

from frisk.data.simulator.config import SCENARIOS, SimulationConfig
from frisk.data.simulator.generate import simulate

__all__ = ["SCENARIOS", "SimulationConfig", "simulate"]
