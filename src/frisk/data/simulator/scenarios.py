"""Fraud scenarios that hit one account at a time, and the registry of all scenarios.

Each scenario draws ``n`` episodes starting on days in ``days`` and returns their rows; the
signature named in its docstring is what a detector could learn. ``drifted`` switches to what
fraudsters do after the drift day. Scenarios spanning many accounts are in ``networks``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from frisk.data.simulator.catalog import channel_code
from frisk.data.simulator.clock import MINUTE_US
from frisk.data.simulator.config import SCENARIOS
from frisk.data.simulator.legit import channel_mix, draw_channels, typical_device
from frisk.data.simulator.networks import compromised_merchant, mule_account
from frisk.data.simulator.rows import I64, Rows, cumsum_within, expand
from frisk.data.simulator.world import FOREIGN_ACCOUNT_COUNTRIES, Ids, World, make_rows

__all__ = ["REGISTRY", "Draw", "Scenario"]

Draw = Callable[[World, Ids, np.random.Generator, int, tuple[int, int], bool], Rows]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A fraud scenario: how to draw episodes and how they weigh in the fraud mix."""

    name: str
    draw: Draw
    # Mean rows per episode, before and after the drift (the fraud budget is split by these).
    mean_rows: tuple[float, float]
    # Share of fraud rows, before and after the drift.
    mix: tuple[float, float]

    @property
    def code(self) -> int:
        return SCENARIOS.index(self.name)


def _code(name: str) -> int:
    return SCENARIOS.index(name)


_CARD = channel_code("card")
_CNP = channel_code("card_not_present")
_WALLET = channel_code("wallet")
_TRANSFER = channel_code("bank_transfer")
_UPI = channel_code("upi")


def _channels(rng: np.random.Generator, n: int, mix: dict[int, float]) -> I64:
    codes = np.array(list(mix), dtype=np.int64)
    p = np.array(list(mix.values()))
    return codes[rng.choice(len(codes), n, p=p / p.sum())]


def account_takeover(
    world: World, ids: Ids, rng: np.random.Generator, n: int, days: tuple[int, int], drifted: bool
) -> Rows:
    """A new device on the victim's account, then a burst of large payments to new payees.

    Before the drift the money goes out by transfer to one to three fresh accounts; after it,
    fraudsters buy gift cards and electronics with the wallet and card-on-file, in more, smaller
    payments.
    """
    victim = world.victims(rng, n)
    size = rng.integers(4, 11, n) if drifted else rng.integers(3, 9, n)
    episode, position = expand(size)
    rows = len(episode)
    # The first payment follows the new device's login within the hour; the rest within hours.
    gaps = rng.exponential(20.0, rows) * MINUTE_US
    start = world.times(rng, victim, days)
    ts = start[episode] + cumsum_within(gaps, position, episode).astype(np.int64)
    payer = victim[episode]
    typical = world.typical_amount(payer)
    if drifted:
        payee = world.merchants_in(rng, rows, ("gift_cards", "electronics"))
        is_merchant = np.ones(rows, dtype=bool)
        channel = _channels(rng, rows, {_WALLET: 0.6, _CNP: 0.4})
        amount = np.maximum(typical * rng.uniform(2.0, 6.0, rows), 40.0)
        payee_country = None
    else:
        beneficiaries = rng.integers(1, 4, n)
        first = ids.accounts(int(beneficiaries.sum()))[np.cumsum(beneficiaries) - beneficiaries]
        payee = first[episode] + position % beneficiaries[episode]
        is_merchant = np.zeros(rows, dtype=bool)
        channel = _channels(rng, rows, {_TRANSFER: 0.7, _WALLET: 0.2, _UPI: 0.1})
        amount = np.maximum(typical * rng.uniform(5.0, 20.0, rows), 150.0)
        abroad = rng.random(n) < 0.3
        foreign = FOREIGN_ACCOUNT_COUNTRIES[rng.integers(0, len(FOREIGN_ACCOUNT_COUNTRIES), n)]
        home = world.population.country[victim]
        payee_country = np.where(abroad, foreign, home)[episode]
    return make_rows(
        world,
        rng,
        scenario=_code("account_takeover"),
        case=episode,
        ts=ts,
        amount=np.minimum(amount, 15_000.0),
        payer=payer,
        payee=payee,
        payee_is_merchant=is_merchant,
        device=ids.devices(n)[episode],
        channel=channel,
        payee_country=payee_country,
    )


def card_testing(
    world: World, ids: Ids, rng: np.random.Generator, n: int, days: tuple[int, int], drifted: bool
) -> Rows:
    """Many tiny online payments on one card within minutes, then often one large purchase.

    A bot checks a stolen card at a digital-goods merchant at any hour; after the drift half the
    tests go through a wallet the card was pushed to.
    """
    victim = world.victims(rng, n)
    tests = rng.integers(5, 21, n)
    big = rng.random(n) < 0.5
    size = tests + big
    episode, position = expand(size)
    rows = len(episode)
    is_big = position == tests[episode]
    gaps = np.where(is_big, rng.uniform(2.0, 30.0, rows) * 60.0, rng.exponential(25.0, rows))
    day = rng.integers(days[0], days[1], n)
    start = world.config.start_us + day * 86_400_000_000 + rng.integers(0, 86_400_000_000, n)
    ts = start[episode] + (cumsum_within(gaps, position, episode) * 1e6).astype(np.int64)
    tester = world.merchants_in(rng, n, ("digital_goods",))[episode]
    shop = world.merchants_in(rng, rows, ("electronics", "gift_cards"))
    wallet_share = 0.5 if drifted else 0.0
    channel = np.where(rng.random(rows) < wallet_share, _WALLET, _CNP)
    amount = np.where(
        is_big, rng.uniform(300.0, 1500.0, rows), np.round(rng.uniform(0.5, 2.0, rows), 2)
    )
    return make_rows(
        world,
        rng,
        scenario=_code("card_testing"),
        case=episode,
        ts=ts,
        amount=amount,
        payer=victim[episode],
        payee=np.where(is_big, shop, tester),
        payee_is_merchant=np.ones(rows, dtype=bool),
        device=ids.devices(n)[episode],
        channel=channel,
    )


def social_engineering(
    world: World, ids: Ids, rng: np.random.Generator, n: int, days: tuple[int, int], drifted: bool
) -> Rows:
    """The victim, talked into it, sends an unusually large sum to a first-time payee.

    The victim's own device is used. Before the drift: by bank transfer, late in the evening or
    at night. After it: over the instant rail or a wallet, in the daytime, and smaller.
    """
    victim = world.victims(rng, n)
    size = 1 + (rng.random(n) < 0.3)
    episode, position = expand(size)
    rows = len(episode)
    start = world.times(rng, victim, days, odd=not drifted)
    ts = start[episode] + position * rng.integers(5, 60, rows) * MINUTE_US
    payer = victim[episode]
    typical = world.typical_amount(payer)
    if drifted:
        amount = np.maximum(typical * rng.uniform(4.0, 12.0, rows), 100.0)
        channel = _channels(rng, rows, {_UPI: 0.5, _WALLET: 0.3, _TRANSFER: 0.2})
    else:
        amount = np.maximum(typical * rng.uniform(10.0, 40.0, rows), 300.0)
        channel = _channels(rng, rows, {_TRANSFER: 0.8, _UPI: 0.2})
    # A second payment is the victim persuaded to "top up": a little smaller.
    amount = np.where(position > 0, amount * rng.uniform(0.5, 1.0, rows), amount)
    return make_rows(
        world,
        rng,
        scenario=_code("social_engineering"),
        case=episode,
        ts=ts,
        amount=np.minimum(amount, 25_000.0),
        payer=payer,
        payee=ids.accounts(n)[episode],
        payee_is_merchant=np.zeros(rows, dtype=bool),
        device=typical_device(
            world.population, rng, payer, (ts - world.config.start_us) // 86_400_000_000
        ),
        channel=channel,
    )


def amount_anomaly(
    world: World, ids: Ids, rng: np.random.Generator, n: int, days: tuple[int, int], drifted: bool
) -> Rows:
    """One purchase far above the payer's own history; merchant, channel, device and hour normal."""
    del ids
    payer = world.victims(rng, n)
    ts = world.times(rng, payer, days)
    merchant = world.merchants_in(rng, n, ("electronics", "travel", "retail", "online_retail"))
    factor = rng.uniform(4.0, 10.0, n) if drifted else rng.uniform(10.0, 40.0, n)
    return make_rows(
        world,
        rng,
        scenario=_code("amount_anomaly"),
        case=np.arange(n, dtype=np.int64),
        ts=ts,
        amount=np.minimum(world.typical_amount(payer) * factor, 20_000.0),
        payer=payer,
        payee=merchant,
        payee_is_merchant=np.ones(n, dtype=bool),
        device=_day_device(world, rng, payer, ts),
        channel=_merchant_channels(world, rng, merchant, drifted),
    )


def friendly_fraud(
    world: World, ids: Ids, rng: np.random.Generator, n: int, days: tuple[int, int], drifted: bool
) -> Rows:
    """A payment indistinguishable from the payer's habits, later disputed by the payer.

    There is no signature to learn: it keeps evaluations honest about what is detectable.
    """
    del ids
    payer = world.victims(rng, n)
    ts = world.times(rng, payer, days)
    favourite = world.population.favourites[payer, rng.integers(0, 3, n)]
    amount = world.typical_amount(payer) * rng.lognormal(0.0, 0.5, n)
    return make_rows(
        world,
        rng,
        scenario=_code("friendly_fraud"),
        case=np.arange(n, dtype=np.int64),
        ts=ts,
        amount=amount,
        payer=payer,
        payee=favourite,
        payee_is_merchant=np.ones(n, dtype=bool),
        device=_day_device(world, rng, payer, ts),
        channel=_merchant_channels(world, rng, favourite, drifted),
    )


def _day_device(world: World, rng: np.random.Generator, payer: I64, ts: I64) -> I64:
    day = (ts - world.config.start_us) // 86_400_000_000
    return typical_device(world.population, rng, payer, day)


def _merchant_channels(world: World, rng: np.random.Generator, merchant: I64, drifted: bool) -> I64:
    mix, _ = channel_mix(drifted)
    return draw_channels(rng, mix[world.population.merchant_category[merchant]])


REGISTRY: Final[tuple[Scenario, ...]] = (
    Scenario("account_takeover", account_takeover, (5.5, 7.0), (0.22, 0.10)),
    Scenario("card_testing", card_testing, (13.0, 13.0), (0.18, 0.06)),
    Scenario("compromised_merchant", compromised_merchant, (30.0, 30.0), (0.15, 0.06)),
    Scenario("mule_account", mule_account, (14.0, 21.0), (0.12, 0.30)),
    Scenario("social_engineering", social_engineering, (1.3, 1.3), (0.10, 0.30)),
    Scenario("amount_anomaly", amount_anomaly, (1.0, 1.0), (0.13, 0.08)),
    Scenario("friendly_fraud", friendly_fraud, (1.0, 1.0), (0.10, 0.10)),
)
