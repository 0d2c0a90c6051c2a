"""The simulated population: payers with spending habits and devices, and merchants.

People pay merchants (card, online, wallet) and each other (P2P transfers). Every payer has a
home country and currency, a lognormal spending profile, a heavy-tailed activity rate, one to
three devices (some replace a device during the simulation, as people do), favourite merchants
and a few regular contacts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frisk.data.simulator.catalog import (
    CATEGORIES,
    COUNTRIES,
    FOREIGN_MERCHANT_COUNTRIES,
    country_code,
)
from frisk.data.simulator.config import SimulationConfig
from frisk.data.simulator.rows import F64, I64

__all__ = ["FAVOURITES", "Population", "build_population"]

FAVOURITES = 8  # merchants a payer returns to
CONTACTS = 4  # people a payer sends money to
# Probability a payer uses favourite 0..7: habits are concentrated.
FAVOURITE_WEIGHTS = np.array([0.30, 0.20, 0.15, 0.11, 0.09, 0.07, 0.05, 0.03])
# Of the payers, the share who get a new phone or laptop during the simulation.
NEW_DEVICE_SHARE = 0.06


@dataclass(frozen=True, slots=True)
class Population:
    """Payers (person accounts ``0..payers-1``) and merchants (``0..merchants-1``)."""

    # Payers
    country: I64
    currency: I64
    utc_offset_us: I64
    spend_mu: F64  # log-scale spending level relative to a category's median
    spend_sigma: F64
    activity: F64  # expected transactions per day
    p2p_share: F64
    device_base: I64  # the payer's devices are device_base + 0..n_devices-1
    n_devices: I64
    new_device_day: I64  # day a new device appears, -1 for none
    new_device: I64
    account_age_days: F64  # at the start of the simulation
    favourites: I64  # (payers, FAVOURITES) merchant numbers
    contacts: I64  # (payers, CONTACTS) person account numbers
    # Merchants
    merchant_category: I64
    merchant_country: I64
    merchant_popularity: F64  # sums to 1
    # People outside the population who receive legit P2P transfers (accounts at other banks).
    external_accounts: int
    external_country: I64

    @property
    def payers(self) -> int:
        return len(self.country)

    @property
    def merchants(self) -> int:
        return len(self.merchant_category)

    @property
    def devices(self) -> int:
        """Devices used by legit payers; fraudsters' devices are numbered from here on."""
        return int(self.new_device.max()) + 1

    @property
    def accounts(self) -> int:
        """Person accounts that legit payers know; fraudsters' accounts are numbered from here."""
        return self.payers + self.external_accounts


def build_population(config: SimulationConfig, rng: np.random.Generator) -> Population:
    """Draw payers and merchants for ``config``."""
    n = config.payers
    country = _home_countries(config, rng, n)
    currency_of = {code: i for i, code in enumerate(config.currencies)}
    currency = np.array([currency_of[COUNTRIES[c].currency] for c in country], dtype=np.int64)
    offset_hours = np.array([c.utc_offset_hours for c in COUNTRIES])
    utc_offset_us = (offset_hours[country] * 3_600_000_000).astype(np.int64)

    # Activity is heavy-tailed: most people pay a few times a week, a few many times a day.
    activity = rng.lognormal(0.0, 0.9, n)
    activity *= config.mean_daily_txns / activity.mean()
    n_devices = rng.choice(np.array([1, 2, 3]), size=n, p=[0.55, 0.35, 0.10])
    device_base = np.cumsum(n_devices) - n_devices
    changes = rng.random(n) < NEW_DEVICE_SHARE
    new_device_day = np.where(changes, rng.integers(0, config.days, n), -1)
    new_device = int(n_devices.sum()) + np.cumsum(changes) - 1
    new_device = np.where(changes, new_device, device_base)
    # Account age: mostly years, a few accounts opened weeks ago.
    age = rng.lognormal(np.log(900.0), 0.8, n)
    age = np.where(rng.random(n) < 0.04, rng.uniform(3.0, 60.0, n), age)

    m = max(40, n // 12)
    weights = np.array([c.weight for c in CATEGORIES])
    merchant_category = rng.choice(len(CATEGORIES), size=m, p=weights / weights.sum())
    # Zipf-like: a few merchants take much of the trade; ranks are shuffled over categories.
    ranks: F64 = 1.0 / np.arange(1, m + 1, dtype=np.float64) ** 0.9
    popularity: F64 = rng.permutation(ranks / ranks.sum())
    merchant_country = _merchant_countries(merchant_category, country, rng)

    external = max(10, n // 3)
    return Population(
        country=country,
        currency=currency,
        utc_offset_us=utc_offset_us,
        spend_mu=rng.normal(0.0, 0.45, n),
        spend_sigma=rng.uniform(0.45, 0.95, n),
        activity=activity,
        p2p_share=rng.beta(2.0, 12.0, n),
        device_base=device_base.astype(np.int64),
        n_devices=n_devices.astype(np.int64),
        new_device_day=new_device_day.astype(np.int64),
        new_device=new_device.astype(np.int64),
        account_age_days=age,
        favourites=_favourites(country, merchant_category, merchant_country, popularity, rng),
        contacts=_contacts(n, external, rng),
        merchant_category=merchant_category.astype(np.int64),
        merchant_country=merchant_country,
        merchant_popularity=popularity,
        external_accounts=external,
        external_country=country[rng.integers(0, n, external)],
    )


def _home_countries(config: SimulationConfig, rng: np.random.Generator, n: int) -> I64:
    # The first currency is the home market; the others share the rest.
    codes, weights = [], []
    for rank, currency in enumerate(config.currencies):
        share = 1.0 if len(config.currencies) == 1 else (0.6 if rank == 0 else 0.4)
        if rank > 0:
            share /= len(config.currencies) - 1
        home = [(i, c) for i, c in enumerate(COUNTRIES) if c.currency == currency and c.weight]
        total = sum(c.weight for _, c in home)
        for i, c in home:
            codes.append(i)
            weights.append(share * c.weight / total)
    p = np.array(weights) / sum(weights)
    return np.asarray(codes, dtype=np.int64)[rng.choice(len(codes), size=n, p=p)]


def _merchant_countries(category: I64, payer_country: I64, rng: np.random.Generator) -> I64:
    m = len(category)
    local = payer_country[rng.integers(0, len(payer_country), m)]
    foreign_codes = np.array([country_code(c) for c in FOREIGN_MERCHANT_COUNTRIES])
    foreign = foreign_codes[rng.integers(0, len(foreign_codes), m)]
    online = np.array([c.online for c in CATEGORIES])[category]
    # A third of online merchants sell from abroad; shops are where their customers live.
    return np.where(online & (rng.random(m) < 0.35), foreign, local).astype(np.int64)


def _favourites(
    country: I64, category: I64, merchant_country: I64, popularity: F64, rng: np.random.Generator
) -> I64:
    n = len(country)
    online = np.array([c.online for c in CATEGORIES])[category]
    favourites = np.empty((n, FAVOURITES), dtype=np.int64)
    for home in np.unique(country):
        payers = np.flatnonzero(country == home)
        # Favourites are shops of the home country or online merchants anywhere. Shops serve
        # only their country's payers, so their weight is divided by that country's share
        # to keep each category's overall share of trade.
        local = merchant_country == home
        eligible = np.flatnonzero(online | local)
        share = len(payers) / n
        weight = popularity * np.where(online, 1.0, 1.0 / share)
        p = weight[eligible] / weight[eligible].sum()
        favourites[payers] = eligible[rng.choice(len(eligible), (len(payers), FAVOURITES), p=p)]
    return favourites


def _contacts(n: int, external: int, rng: np.random.Generator) -> I64:
    # Three in four contacts are customers too; the rest bank elsewhere.
    inside = rng.integers(0, n - 1, (n, CONTACTS))
    # Skip oneself: numbers at or above one's own move up by one.
    inside += inside >= np.arange(n)[:, None]
    outside = n + rng.integers(0, external, (n, CONTACTS))
    return np.where(rng.random((n, CONTACTS)) < 0.75, inside, outside).astype(np.int64)
