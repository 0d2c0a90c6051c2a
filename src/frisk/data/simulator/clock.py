"""When things happen: local hours of the day, weekdays, and conversion to UTC microseconds."""

from __future__ import annotations

from typing import Final

import numpy as np

from frisk.data.simulator.catalog import HOUR_WEIGHTS, WEEKDAY_FACTORS
from frisk.data.simulator.config import SimulationConfig
from frisk.data.simulator.rows import F64, I64

__all__ = ["DAY_US", "HOUR_US", "MINUTE_US", "ODD_HOURS", "at_local", "day_factor", "local_hours"]

MINUTE_US: Final = 60_000_000
HOUR_US: Final = 60 * MINUTE_US
DAY_US: Final = 24 * HOUR_US
_HOUR_P: Final = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
# Hours when a victim pressed by a caller or a fraudster at work stands out: late evening, night.
ODD_HOURS: Final = np.array([22, 23, 0, 1, 2, 3])


def local_hours(rng: np.random.Generator, n: int, *, odd: bool = False) -> F64:
    """``n`` local times of day in hours (0..24), with the daily rhythm of people paying."""
    hours = rng.choice(ODD_HOURS, n) if odd else rng.choice(24, n, p=_HOUR_P)
    return hours + rng.random(n)


def at_local(config: SimulationConfig, day: I64, hours: F64, utc_offset_us: I64) -> I64:
    """UTC microseconds of local time ``hours`` on simulation ``day`` in zone ``utc_offset_us``."""
    local = config.start_us + day * DAY_US + (hours * HOUR_US).astype(np.int64)
    return local - utc_offset_us


def day_factor(config: SimulationConfig, day: int) -> float:
    """Relative activity of simulation ``day`` (weekly rhythm)."""
    return float(WEEKDAY_FACTORS[(config.start_weekday + day) % 7])
