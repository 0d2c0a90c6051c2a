"""``simulate``: a labelled, time-ordered table of payments from a ``SimulationConfig``.

Randomness comes from named sub-streams of the seed (population, each legit day, each scenario
and period, labels), so changing one part leaves the others' draws alone.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from frisk.currencies import CURRENCIES
from frisk.data.simulator.catalog import (
    CATEGORIES,
    CHANNELS,
    COUNTRIES,
    ENTRY_MODES,
    SUPPORTED_CURRENCIES,
)
from frisk.data.simulator.clock import DAY_US
from frisk.data.simulator.config import SimulationConfig
from frisk.data.simulator.labels import LABEL_SOURCES, label_events
from frisk.data.simulator.legit import legit_day
from frisk.data.simulator.population import Population, build_population
from frisk.data.simulator.rows import F64, I64, Rows, concat
from frisk.data.simulator.scenarios import REGISTRY
from frisk.data.simulator.world import Ids, World
from frisk.data.table import TIMESTAMP_DTYPE, conform

__all__ = ["simulate"]

# Sub-stream numbers; a new part of the simulator takes a new number.
_POPULATION, _LEGIT, _EPISODES, _LABELS = 1, 2, 3, 4
_SCENARIO_BASE = 100
# Id numbers are scrambled by a bijection modulo a prime so that fraudsters' accounts and
# devices, created after the population's, cannot be told apart by their numbers.
_PRIMES: Final = (99_991, 999_983, 9_999_991, 99_999_989, 999_999_937)


def simulate(config: SimulationConfig) -> pl.DataFrame:
    """Simulate payments for ``config`` as a canonical event table (see ``frisk.data.table``).

    Besides the canonical columns the table carries ``account_age_days`` (the payer's account
    age at the time) and ``entry_mode`` (how a card was read; null off cards). Frauds have
    ``label`` 1 and their ``scenario``; ``label_timestamp`` is when the fraud became known
    (null if never), which can fall after the simulated period.
    """
    population = build_population(config, _rng(config, _POPULATION))
    legit = concat(
        [legit_day(config, population, d, _rng(config, _LEGIT, d)) for d in range(config.days)]
    )
    world = World.of(config, population, legit)
    fraud = _frauds(config, world, legit)
    rows = concat([legit, fraud])
    end = config.start_us + config.days * DAY_US
    rows = rows.take((rows.ts >= config.start_us) & (rows.ts < end))
    rows = rows.take(np.argsort(rows.ts, kind="stable"))
    return _table(config, population, rows)


def _rng(config: SimulationConfig, *stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *stream])


def _periods(config: SimulationConfig) -> list[tuple[int, int, bool]]:
    if config.drift_at is None:
        return [(0, config.days, False)]
    return [(0, config.drift_at, False), (config.drift_at, config.days, True)]


def _frauds(config: SimulationConfig, world: World, legit: Rows) -> Rows:
    """Fraud episodes sized so frauds make up about ``fraud_rate`` of each period's rows."""
    ids = Ids(world.population)
    day_of = (legit.ts - config.start_us) // DAY_US
    parts: list[Rows] = []
    cases = 0
    for period, (first, last, drifted) in enumerate(_periods(config)):
        legit_rows = int(np.count_nonzero((day_of >= first) & (day_of < last)))
        budget = legit_rows * config.fraud_rate / (1.0 - config.fraud_rate)
        counting = _rng(config, _EPISODES, period)
        for scenario in REGISTRY:
            share = scenario.mix[drifted]
            expected = budget * share / scenario.mean_rows[drifted]
            # Round at random so small simulations still get the expected number on average.
            episodes = int(expected) + int(counting.random() < expected - int(expected))
            if episodes == 0:
                continue
            rng = _rng(config, _SCENARIO_BASE + scenario.code, period)
            part = scenario.draw(world, ids, rng, episodes, (first, last), drifted)
            part.case += cases
            cases = int(part.case.max()) + 1
            parts.append(part)
    if not parts:
        return legit.take(np.zeros(0, dtype=np.int64))
    return concat(parts)


def _table(config: SimulationConfig, population: Population, rows: Rows) -> pl.DataFrame:
    # Case numbers must be dense for labelling; rows outside the period may have been dropped.
    fraud = rows.case >= 0
    _, dense = np.unique(rows.case[fraud], return_inverse=True)
    rows.case[fraud] = dense
    label_ts, source = label_events(rows, _rng(config, _LABELS))
    # The moduli follow the population, not the fraud, so that fraud settings leave the ids of
    # legit payers and devices alone.
    people = np.concatenate([rows.payer, rows.payee[~rows.payee_is_merchant]])
    accounts = _modulus(int(people.max(initial=0)) + 1, population.accounts)
    devices = _modulus(int(rows.device.max(initial=0)) + 1, population.devices)
    payee = pl.select(
        pl.when(pl.Series(rows.payee_is_merchant))
        .then(_ids("M", rows.payee, 0))
        .otherwise(_ids("P", rows.payee, accounts))
    ).to_series()
    frame = pl.DataFrame(
        {
            "transaction_id": _ids("T", np.arange(len(rows), dtype=np.int64), 0, width=10),
            "timestamp": pl.Series(rows.ts).cast(TIMESTAMP_DTYPE),
            "amount": _amounts(config, rows),
            "currency": _decode(rows.currency, config.currencies),
            "payer_id": _ids("P", rows.payer, accounts),
            "payee_id": payee,
            "device_id": _ids("D", rows.device, devices),
            "channel": _decode(rows.channel, CHANNELS),
            "merchant_category": _decode(rows.category, tuple(c.name for c in CATEGORIES)),
            "payer_country": _decode(rows.payer_country, tuple(c.code for c in COUNTRIES)),
            "payee_country": _decode(rows.payee_country, tuple(c.code for c in COUNTRIES)),
            "label": pl.Series(fraud.astype(np.int8)),
            "label_timestamp": _timestamps(label_ts),
            "label_source": _decode(source, LABEL_SOURCES),
            "scenario": _decode(rows.scenario, tuple(s.name for s in REGISTRY)),
            "account_age_days": pl.Series(np.floor(rows.account_age_days)),
            "entry_mode": _decode(rows.entry_mode, ENTRY_MODES),
        }
    )
    return conform(frame, sort=False)


def _modulus(needed: int, usual: int) -> int:
    """The smallest of ``_PRIMES`` above ``needed`` and twice ``usual``."""
    return next(p for p in _PRIMES if p > max(needed, 2 * usual))


def _ids(prefix: str, codes: I64, modulus: int, width: int = 5) -> pl.Series:
    """``prefix`` and a zero-padded number per code (null for ``NONE``).

    With a prime ``modulus`` the numbers are scrambled by a bijection of ``0..modulus-1``.
    """
    numbers = codes
    if modulus:
        multiplier = int(modulus * 0.6180339887)
        width = len(str(modulus))
        numbers = (codes * multiplier + 7919) % modulus
    text = pl.Series(numbers).cast(pl.String).str.zfill(width)
    missing = pl.Series(codes < 0)
    return pl.select(
        pl.when(missing).then(None).otherwise(prefix + text.to_frame("x").to_series())
    ).to_series()


def _decode(codes: I64, names: tuple[str, ...]) -> pl.Series:
    """Names for codes; ``NONE`` becomes null."""
    index = pl.Series(codes)
    index = pl.select(pl.when(index >= 0).then(index)).to_series()
    return pl.Series(names, dtype=pl.String).gather(index)


def _timestamps(micros: I64) -> pl.Series:
    series = pl.Series(micros).cast(TIMESTAMP_DTYPE)
    return pl.select(pl.when(pl.Series(micros >= 0)).then(series)).to_series()


def _amounts(config: SimulationConfig, rows: Rows) -> F64:
    """EUR amounts in the payer's currency, rounded as people and card schemes round them."""
    rates = np.array([SUPPORTED_CURRENCIES[c] for c in config.currencies])
    amount = rows.amount * rates[rows.currency]
    # Half of person-to-person transfers are round figures: 20, 150, 1200.
    step = 10.0 ** np.maximum(0.0, np.floor(np.log10(np.maximum(amount, 1.0))) - 1.0)
    # Decided by the row itself (its microsecond), so other rows do not shift the choice.
    roundish = ~rows.payee_is_merchant & (rows.ts % 2 == 0)
    amount = np.where(roundish, np.maximum(np.round(amount / step), 1.0) * step, amount)
    minor = np.array([CURRENCIES[c] for c in config.currencies])[rows.currency]
    scale = 10.0**minor
    rounded: F64 = np.maximum(np.round(amount * scale), 1.0) / scale
    return rounded
