"""What fraud scenarios draw on: the population, its legit history, and fresh fraudster ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frisk.data.simulator.catalog import CATEGORIES, channel_code, country_code
from frisk.data.simulator.clock import at_local, local_hours
from frisk.data.simulator.config import SimulationConfig
from frisk.data.simulator.legit import draw_entry_modes
from frisk.data.simulator.population import Population
from frisk.data.simulator.rows import BOOL, F64, I64, NONE, Rows

__all__ = ["FOREIGN_ACCOUNT_COUNTRIES", "Ids", "World", "make_rows"]

# Where money sent abroad by fraudsters lands.
FOREIGN_ACCOUNT_COUNTRIES = np.array([country_code(c) for c in ("GB", "NG", "CN", "LU")])
# A payer needs this many legit payments to be a victim whose history can be compared.
MIN_HISTORY = 5


@dataclass(frozen=True, slots=True)
class World:
    """The population and what its legit payments say about each payer."""

    config: SimulationConfig
    population: Population
    median_amount: F64  # EUR median of each payer's legit payments (nan without any)
    active: I64  # payers with enough history to be victims
    active_weight: F64  # victims are drawn in proportion to how much they pay

    @classmethod
    def of(cls, config: SimulationConfig, population: Population, legit: Rows) -> World:
        counts = np.bincount(legit.payer, minlength=population.payers)
        order = np.lexsort((legit.amount, legit.payer))
        starts = np.cumsum(counts) - counts
        middle = np.clip(starts + counts // 2, 0, max(len(legit) - 1, 0))
        sorted_amounts = legit.amount[order] if len(legit) else np.zeros(1)
        median = np.where(counts > 0, sorted_amounts[middle], np.nan)
        active = np.flatnonzero(counts >= MIN_HISTORY)
        if len(active) == 0:
            active = np.flatnonzero(counts > 0) if counts.any() else np.arange(population.payers)
        weight = counts[active].astype(np.float64) + 1.0
        return cls(config, population, median, active, weight / weight.sum())

    def victims(self, rng: np.random.Generator, n: int) -> I64:
        """``n`` payers with a history, busier payers more likely."""
        return self.active[rng.choice(len(self.active), n, p=self.active_weight)]

    def times(
        self, rng: np.random.Generator, payer: I64, days: tuple[int, int], *, odd: bool = False
    ) -> I64:
        """A moment for each payer on a day in ``days`` at a plausible (or ``odd``) local hour."""
        day = rng.integers(days[0], days[1], len(payer))
        hours = local_hours(rng, len(payer), odd=odd)
        return at_local(self.config, day, hours, self.population.utc_offset_us[payer])

    def merchants_in(self, rng: np.random.Generator, n: int, categories: tuple[str, ...]) -> I64:
        """``n`` merchants of ``categories``, popular ones more likely."""
        pop = self.population
        codes = [i for i, c in enumerate(CATEGORIES) if c.name in categories]
        eligible = np.flatnonzero(np.isin(pop.merchant_category, codes))
        if len(eligible) == 0:
            eligible = np.arange(pop.merchants)
        p = pop.merchant_popularity[eligible]
        return eligible[rng.choice(len(eligible), n, p=p / p.sum())]

    def typical_amount(self, payer: I64) -> F64:
        """A payer's median legit amount in EUR."""
        return np.nan_to_num(self.median_amount[payer], nan=40.0)


class Ids:
    """Hands out account and device numbers no legit payer uses, in a fixed order."""

    def __init__(self, population: Population) -> None:
        self._account = population.accounts
        self._device = population.devices

    def accounts(self, n: int) -> I64:
        first, self._account = self._account, self._account + n
        return np.arange(first, first + n, dtype=np.int64)

    def devices(self, n: int) -> I64:
        first, self._device = self._device, self._device + n
        return np.arange(first, first + n, dtype=np.int64)


def make_rows(
    world: World,
    rng: np.random.Generator,
    *,
    scenario: int,
    case: I64,
    ts: I64,
    amount: F64,
    payer: I64,
    payee: I64,
    payee_is_merchant: BOOL,
    device: I64,
    channel: I64,
    payee_country: I64 | None = None,
    payer_country: I64 | None = None,
    currency: I64 | None = None,
    account_age_days: F64 | None = None,
) -> Rows:
    """Fraud rows; what is not given is taken from the payer (a member of the population)."""
    pop = world.population
    n = len(ts)
    safe_payer = np.clip(payer, 0, pop.payers - 1)
    safe_merchant = np.where(payee_is_merchant, payee, 0)
    category = np.where(payee_is_merchant, pop.merchant_category[safe_merchant], NONE)
    if payer_country is None:
        payer_country = pop.country[safe_payer]
    if payee_country is None:
        payee_country = np.where(
            payee_is_merchant, pop.merchant_country[safe_merchant], payer_country
        )
    if account_age_days is None:
        elapsed = (ts - world.config.start_us) / 86_400e6
        account_age_days = pop.account_age_days[safe_payer] + elapsed
    return Rows(
        ts=ts,
        amount=amount,
        payer=payer,
        payee=payee,
        payee_is_merchant=payee_is_merchant,
        # Card-present payments carry the terminal, not a device of the payer.
        device=np.where(channel == channel_code("card"), NONE, device),
        channel=channel,
        category=category,
        payer_country=payer_country,
        payee_country=payee_country,
        currency=pop.currency[safe_payer] if currency is None else currency,
        entry_mode=draw_entry_modes(rng, channel),
        account_age_days=account_age_days,
        scenario=np.full(n, scenario, dtype=np.int64),
        case=case,
    )
