"""Legit behaviour: each payer's everyday payments to merchants and to people, one day at a time.

A day is drawn in one vectorised pass over all payers (Poisson counts, then per-row draws), so
the cost grows with the number of transactions, not with Python loops over them.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from frisk.data.simulator.catalog import CATEGORIES, CHANNELS, channel_code, entry_code
from frisk.data.simulator.clock import at_local, day_factor, local_hours
from frisk.data.simulator.config import SimulationConfig
from frisk.data.simulator.population import FAVOURITE_WEIGHTS, FAVOURITES, Population
from frisk.data.simulator.rows import F64, I64, NONE, Rows

__all__ = [
    "P2P_MEDIAN_EUR",
    "channel_mix",
    "draw_channels",
    "draw_entry_modes",
    "legit_day",
    "typical_device",
]

P2P_MEDIAN_EUR: Final = 40.0
# Share of merchant payments made away from the payer's favourites (new shops, trips).
EXPLORE: Final = 0.15
# Share of P2P transfers to someone outside the payer's regular contacts.
NEW_CONTACT: Final = 0.12
_CARD = channel_code("card")
_CNP = channel_code("card_not_present")
_WALLET = channel_code("wallet")
_TRANSFER = channel_code("bank_transfer")
_UPI = channel_code("upi")


def channel_mix(drifted: bool) -> tuple[F64, F64]:
    """Channel probabilities: per merchant category (rows) and for P2P transfers.

    After the drift an instant-payment rail (``upi``) and wallets take a share from cards, as when
    a new payment method catches on.
    """
    merchant = np.array([c.channels for c in CATEGORIES], dtype=np.float64)
    p2p = np.zeros(len(CHANNELS))
    p2p[[_TRANSFER, _WALLET, _UPI]] = (0.62, 0.28, 0.10)
    if drifted:
        moved = 0.35 * merchant[:, [_CARD, _CNP]]
        merchant[:, [_CARD, _CNP]] -= moved
        merchant[:, _UPI] += 0.6 * moved.sum(axis=1)
        merchant[:, _WALLET] += 0.4 * moved.sum(axis=1)
        p2p[[_TRANSFER, _WALLET, _UPI]] = (0.35, 0.25, 0.40)
    return merchant / merchant.sum(axis=1, keepdims=True), p2p


def draw_channels(rng: np.random.Generator, p: F64) -> I64:
    """One channel per row of ``p`` (rows of channel probabilities)."""
    cumulative = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None]
    chosen: I64 = np.minimum((u >= cumulative).sum(axis=1), p.shape[1] - 1).astype(np.int64)
    return chosen


def draw_entry_modes(rng: np.random.Generator, channel: I64) -> I64:
    """How a card was read: chip or contactless mostly, magstripe rarely; online is ecommerce."""
    present = rng.choice(3, len(channel), p=[0.40, 0.57, 0.03])
    modes = np.where(channel == _CARD, present, NONE)
    return np.where(channel == _CNP, entry_code("ecommerce"), modes).astype(np.int64)


def legit_day(
    config: SimulationConfig, population: Population, day: int, rng: np.random.Generator
) -> Rows:
    """All legit transactions whose local date is simulation ``day``."""
    pop = population
    drifted = config.drift_at is not None and day >= config.drift_at
    counts = rng.poisson(pop.activity * day_factor(config, day))
    payer = np.repeat(np.arange(pop.payers, dtype=np.int64), counts)
    n = len(payer)
    ts = at_local(config, np.full(n, day), local_hours(rng, n), pop.utc_offset_us[payer])

    is_p2p = rng.random(n) < pop.p2p_share[payer]
    favourite = rng.choice(FAVOURITES, n, p=FAVOURITE_WEIGHTS)
    merchant = pop.favourites[payer, favourite]
    explore = rng.random(n) < EXPLORE
    merchant[explore] = rng.choice(pop.merchants, int(explore.sum()), p=pop.merchant_popularity)
    contact = pop.contacts[payer, rng.integers(0, pop.contacts.shape[1], n)]
    stranger = rng.integers(0, pop.payers, n)
    person = np.where(rng.random(n) < NEW_CONTACT, stranger, contact)
    payee = np.where(is_p2p, person, merchant)

    category = np.where(is_p2p, NONE, pop.merchant_category[merchant])
    merchant_p, p2p_p = channel_mix(drifted)
    channel = draw_channels(rng, np.where(is_p2p[:, None], p2p_p, merchant_p[category]))
    payee_country = np.where(is_p2p, _person_country(pop, person), pop.merchant_country[merchant])
    return Rows(
        ts=ts,
        amount=_amounts(pop, rng, payer, category),
        payer=payer,
        payee=payee,
        payee_is_merchant=~is_p2p,
        device=_devices(pop, rng, payer, channel, day),
        channel=channel,
        category=category,
        payer_country=pop.country[payer],
        payee_country=payee_country,
        currency=pop.currency[payer],
        entry_mode=draw_entry_modes(rng, channel),
        account_age_days=pop.account_age_days[payer] + (ts - config.start_us) / 86_400e6,
        scenario=np.full(n, NONE, dtype=np.int64),
        case=np.full(n, NONE, dtype=np.int64),
    )


def typical_device(population: Population, rng: np.random.Generator, payer: I64, day: I64) -> I64:
    """The device a payer would use on ``day``: mostly the main one, a new one once it appears."""
    pop = population
    u = rng.random(len(payer))
    slot = np.minimum((u > 0.75).astype(np.int64) + (u > 0.95), pop.n_devices[payer] - 1)
    device = pop.device_base[payer] + slot
    switched = (pop.new_device_day[payer] >= 0) & (day >= pop.new_device_day[payer])
    return np.where(switched & (rng.random(len(payer)) < 0.7), pop.new_device[payer], device)


def _devices(
    population: Population, rng: np.random.Generator, payer: I64, channel: I64, day: int
) -> I64:
    # Card-present payments carry the terminal, not a device of the payer.
    device = typical_device(population, rng, payer, np.full(len(payer), day))
    return np.where(channel == _CARD, NONE, device)


def _amounts(population: Population, rng: np.random.Generator, payer: I64, category: I64) -> F64:
    medians = np.log(np.array([c.median_eur for c in CATEGORIES]))
    sigmas = np.array([c.sigma for c in CATEGORIES])
    is_p2p = category == NONE
    safe = np.where(is_p2p, 0, category)
    centre = np.where(is_p2p, np.log(P2P_MEDIAN_EUR), medians[safe])
    # The payer's own spread scales the category's (0.7 is the population's average spread).
    sigma = np.where(is_p2p, 0.9, sigmas[safe]) * population.spend_sigma[payer] / 0.7
    log_amount = centre + population.spend_mu[payer] + sigma * rng.standard_normal(len(payer))
    amount: F64 = np.exp(np.clip(log_amount, np.log(0.5), np.log(20_000.0)))
    return amount


def _person_country(population: Population, person: I64) -> I64:
    inside = person < population.payers
    outside = np.clip(person - population.payers, 0, population.external_accounts - 1)
    safe = np.where(inside, person, 0)
    return np.where(inside, population.country[safe], population.external_country[outside])
