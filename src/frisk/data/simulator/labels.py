"""When frauds become known, and how: the label events of simulated frauds.

Frauds are labelled by case (one customer report covers a whole account takeover). Customers
report within days, analysts find cases within a day or two, chargebacks arrive after one to
eight weeks; some frauds are never reported at all and stay unlabelled, as in real feeds.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from frisk.data.simulator.clock import DAY_US
from frisk.data.simulator.config import SCENARIOS
from frisk.data.simulator.rows import I64, NONE, Rows

__all__ = ["LABEL_SOURCES", "NEVER_LABELLED", "label_events"]

LABEL_SOURCES: Final = ("chargeback", "customer_report", "analyst")
NEVER_LABELLED: Final = 0.15
# Per scenario: probabilities of chargeback, customer report, analyst.
_SOURCE_MIX: Final[dict[str, tuple[float, float, float]]] = {
    "account_takeover": (0.0, 0.6, 0.4),
    "card_testing": (0.6, 0.0, 0.4),
    "compromised_merchant": (0.85, 0.15, 0.0),
    "mule_account": (0.0, 0.5, 0.5),
    "social_engineering": (0.0, 0.9, 0.1),
    "amount_anomaly": (0.5, 0.5, 0.0),
    "friendly_fraud": (1.0, 0.0, 0.0),
}
# Per source: median delay in days, log-scale spread, bounds in days.
_DELAY: Final = (
    (24.0, 0.45, 7.0, 56.0),
    (2.0, 0.9, 0.05, 30.0),
    (1.0, 1.0, 1.0 / 24.0, 20.0),
)


def label_events(rows: Rows, rng: np.random.Generator) -> tuple[I64, I64]:
    """Label time (µs, ``NONE`` if never labelled) and source code of every row.

    Fraud rows must carry case numbers ``0..cases-1``; legit rows have no label event.
    """
    fraud = rows.case >= 0
    cases = int(rows.case.max()) + 1 if fraud.any() else 0
    label_ts = np.full(len(rows), NONE, dtype=np.int64)
    source_of_row = np.full(len(rows), NONE, dtype=np.int64)
    if cases == 0:
        return label_ts, source_of_row
    last = np.zeros(cases, dtype=np.int64)
    np.maximum.at(last, rows.case[fraud], rows.ts[fraud])
    scenario = np.zeros(cases, dtype=np.int64)
    scenario[rows.case[fraud]] = rows.scenario[fraud]

    mix = np.array([_SOURCE_MIX[name] for name in SCENARIOS])[scenario]
    u = rng.random(cases)[:, None]
    source = np.minimum((u >= np.cumsum(mix, axis=1)).sum(axis=1), len(LABEL_SOURCES) - 1)
    delay = np.array(_DELAY)[source]
    days = np.clip(rng.lognormal(np.log(delay[:, 0]), delay[:, 1]), delay[:, 2], delay[:, 3])
    at = last + (days * DAY_US).astype(np.int64)
    at = np.where(rng.random(cases) < NEVER_LABELLED, NONE, at)
    label_ts[fraud] = at[rows.case[fraud]]
    source_of_row[fraud] = np.where(label_ts[fraud] >= 0, source[rows.case[fraud]], NONE)
    return label_ts, source_of_row
