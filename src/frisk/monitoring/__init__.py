"""The feedback loop: live performance from labels, drift against training, retraining.

    live_performance(ledger, days=30, budget=0.005, production="m-...")  # per day and model
    drift_report(reference, read_window(ledger, model), alert_level=0.2, min_decisions=100)
    retrain(...)                                                         # champion vs challenger

Everything here reads the ledger through its ``monitoring`` reads (``frisk.store.monitoring``:
aggregates and bounded queries); nothing here sees SQL, and nothing imports the service.
"""

from __future__ import annotations

from frisk.monitoring.drift import (
    DriftReport,
    FeatureDrift,
    LiveWindow,
    ageing_features,
    drift_report,
    psi,
    read_window,
    reference_of,
    shares,
)
from frisk.monitoring.performance import Performance, PerformanceRow, live_performance

__all__ = [
    "DriftReport",
    "FeatureDrift",
    "LiveWindow",
    "Performance",
    "PerformanceRow",
    "ageing_features",
    "drift_report",
    "live_performance",
    "psi",
    "read_window",
    "reference_of",
    "shares",
]
