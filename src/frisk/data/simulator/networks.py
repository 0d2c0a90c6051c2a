"""Fraud scenarios that span many accounts: a compromised merchant and mule accounts."""

from __future__ import annotations

import numpy as np

from frisk.data.simulator.catalog import CATEGORIES, channel_code, entry_code
from frisk.data.simulator.clock import DAY_US, HOUR_US, at_local, local_hours
from frisk.data.simulator.config import SCENARIOS
from frisk.data.simulator.legit import typical_device
from frisk.data.simulator.rows import F64, I64, Rows, concat, expand
from frisk.data.simulator.world import FOREIGN_ACCOUNT_COUNTRIES, Ids, World, make_rows

__all__ = ["compromised_merchant", "mule_account"]

_CARD = channel_code("card")
_CNP = channel_code("card_not_present")
_WALLET = channel_code("wallet")
_TRANSFER = channel_code("bank_transfer")
_UPI = channel_code("upi")
_CASH_OUT = channel_code("cash_out")


def compromised_merchant(
    world: World, ids: Ids, rng: np.random.Generator, n: int, days: tuple[int, int], drifted: bool
) -> Rows:
    """Fraud at one merchant, from many payers' cards, for two to six weeks.

    Before the drift: a shop whose terminal was tampered with takes cloned cards, mostly read by
    magstripe, for larger amounts than its usual. After it: an online merchant in collusion
    charges stolen card numbers.
    """
    categories = ("online_retail", "digital_goods") if drifted else ("grocery", "fuel", "retail")
    merchant = world.merchants_in(rng, n, categories)
    size = rng.integers(15, 46, n)
    episode, _ = expand(size)
    rows = len(episode)
    first = rng.integers(days[0], max(days[0] + 1, days[1] - 14), n)
    span = np.minimum(rng.integers(14, 43, n), world.config.days - first)
    day = first[episode] + (rng.random(rows) * span[episode]).astype(np.int64)
    payer = _local_payers(world, rng, world.population.merchant_country[merchant], size)
    ts = at_local(world.config, day, local_hours(rng, rows), world.population.utc_offset_us[payer])
    medians = np.array([c.median_eur for c in CATEGORIES])
    typical = medians[world.population.merchant_category[merchant]][episode]
    channel = np.full(rows, _CNP if drifted else _CARD, dtype=np.int64)
    result = make_rows(
        world,
        rng,
        scenario=SCENARIOS.index("compromised_merchant"),
        # Every cardholder disputes separately: one case per row.
        case=np.arange(rows, dtype=np.int64),
        ts=ts,
        amount=typical * rng.uniform(1.5, 4.0, rows) * rng.lognormal(0.0, 0.3, rows),
        payer=payer,
        payee=merchant[episode],
        payee_is_merchant=np.ones(rows, dtype=bool),
        device=ids.devices(rows),
        channel=channel,
    )
    if not drifted:
        cloned = rng.random(rows) < 0.65
        result.entry_mode[cloned] = entry_code("magstripe")
    return result


def mule_account(
    world: World, ids: Ids, rng: np.random.Generator, n: int, days: tuple[int, int], drifted: bool
) -> Rows:
    """Many victims pay one young account within days (fan-in); it then pays out (fan-out).

    Before the drift: a handful of sizeable bank transfers in, transfers and cash-outs out, all
    domestic. After it: more, smaller payments over the instant rail and wallets, and half the
    money leaves the country.
    """
    pop = world.population
    mule = ids.accounts(n)
    mule_device = ids.devices(n)
    # A mule is recruited where its victims live and banks in their currency.
    local = world.victims(rng, n)
    home = pop.country[local]
    mule_age = rng.uniform(3.0, 60.0, n)
    fan_in = rng.integers(10, 26, n) if drifted else rng.integers(6, 16, n)
    episode, _ = expand(fan_in)
    rows = len(episode)
    victim = _local_payers(world, rng, home, fan_in)
    first = rng.integers(days[0], days[1], n)
    day = first[episode] + rng.integers(0, 3, rows)
    ts = at_local(world.config, day, local_hours(rng, rows), pop.utc_offset_us[victim])
    if drifted:
        amount = rng.lognormal(np.log(120.0), 0.5, rows)
        channel = _pick(rng, rows, (_UPI, _WALLET, _TRANSFER), (0.5, 0.3, 0.2))
    else:
        amount = rng.lognormal(np.log(400.0), 0.5, rows)
        channel = _pick(rng, rows, (_TRANSFER, _UPI, _WALLET), (0.8, 0.1, 0.1))
    inflow = make_rows(
        world,
        rng,
        scenario=SCENARIOS.index("mule_account"),
        # Each victim reports on their own.
        case=np.arange(rows, dtype=np.int64),
        ts=ts,
        amount=amount,
        payer=victim,
        payee=mule[episode],
        payee_is_merchant=np.zeros(rows, dtype=bool),
        device=typical_device(pop, rng, victim, day),
        channel=channel,
        payee_country=home[episode],
    )
    outflow = _cash_out(world, ids, rng, inflow, mule, mule_device, local, mule_age, drifted)
    return concat([inflow, outflow])


def _cash_out(
    world: World,
    ids: Ids,
    rng: np.random.Generator,
    inflow: Rows,
    mule: I64,
    device: I64,
    local: I64,
    mule_age: F64,
    drifted: bool,
) -> Rows:
    n = len(mule)
    home = world.population.country[local]
    episode_of_inflow = np.searchsorted(mule, inflow.payee)
    received = np.bincount(episode_of_inflow, weights=inflow.amount, minlength=n)
    last = np.zeros(n, dtype=np.int64)
    np.maximum.at(last, episode_of_inflow, inflow.ts)
    size = rng.integers(2, 6, n)
    episode, position = expand(size)
    rows = len(episode)
    # Most of the money leaves within hours of the last payment in, in a few chunks.
    share = rng.uniform(0.2, 1.0, rows)
    share /= np.bincount(episode, weights=share, minlength=n)[episode]
    ts = last[episode] + (rng.uniform(0.5, 6.0, rows) * HOUR_US).astype(np.int64)
    ts += position * rng.integers(5, 90, rows) * 60_000_000
    if drifted:
        channel = _pick(rng, rows, (_UPI, _TRANSFER, _CASH_OUT), (0.5, 0.3, 0.2))
        abroad = rng.random(rows) < 0.5
    else:
        channel = _pick(rng, rows, (_TRANSFER, _CASH_OUT), (0.6, 0.4))
        abroad = np.zeros(rows, dtype=bool)
    foreign = FOREIGN_ACCOUNT_COUNTRIES[rng.integers(0, len(FOREIGN_ACCOUNT_COUNTRIES), rows)]
    return make_rows(
        world,
        rng,
        scenario=SCENARIOS.index("mule_account"),
        # The mule's payments out are found together, by an analyst or the receiving bank;
        # case numbers continue after the inflow's.
        case=len(inflow.case) + episode,
        ts=ts,
        amount=0.9 * received[episode] * share,
        payer=mule[episode],
        payee=ids.accounts(rows),
        payee_is_merchant=np.zeros(rows, dtype=bool),
        device=device[episode],
        channel=channel,
        payee_country=np.where(abroad, foreign, home[episode]),
        payer_country=home[episode],
        currency=world.population.currency[local][episode],
        account_age_days=mule_age[episode] + (ts - world.config.start_us) / DAY_US,
    )


def _local_payers(world: World, rng: np.random.Generator, country: I64, sizes: I64) -> I64:
    """For each episode, ``sizes[i]`` distinct active payers living in ``country[i]`` if any."""
    active = world.active
    active_country = world.population.country[active]
    chosen = []
    for where, size in zip(country.tolist(), sizes.tolist(), strict=True):
        pool = active[active_country == where]
        if len(pool) == 0:
            pool = active
        chosen.append(rng.choice(pool, size, replace=size > len(pool)))
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)


def _pick(rng: np.random.Generator, n: int, codes: tuple[int, ...], p: tuple[float, ...]) -> I64:
    return np.asarray(codes, dtype=np.int64)[rng.choice(len(codes), n, p=p)]
