"""Static tables of the simulated world: countries, currencies, merchant categories, channels.

Amounts are given in EUR and converted with rough exchange rates; the point is plausible scales,
not a price index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "COUNTRIES",
    "ENTRY_MODES",
    "FOREIGN_MERCHANT_COUNTRIES",
    "HOUR_WEIGHTS",
    "SUPPORTED_CURRENCIES",
    "WEEKDAY_FACTORS",
    "Category",
    "Country",
    "category_code",
    "channel_code",
    "country_code",
    "entry_code",
]


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    currency: str
    utc_offset_hours: float
    # Share of payers among the countries of the same currency.
    weight: float


COUNTRIES: Final = (
    Country("DE", "EUR", 1.0, 0.32),
    Country("FR", "EUR", 1.0, 0.25),
    Country("ES", "EUR", 1.0, 0.17),
    Country("IT", "EUR", 1.0, 0.16),
    Country("NL", "EUR", 1.0, 0.10),
    Country("US", "USD", -5.0, 1.0),
    Country("GB", "GBP", 0.0, 1.0),
    Country("CH", "CHF", 1.0, 1.0),
    Country("PL", "PLN", 1.0, 1.0),
    Country("SE", "SEK", 1.0, 1.0),
    Country("IN", "INR", 5.5, 1.0),
    Country("BR", "BRL", -3.0, 1.0),
    Country("JP", "JPY", 9.0, 1.0),
    # Only ever the country of an online merchant or a fraudster's account abroad.
    Country("IE", "EUR", 0.0, 0.0),
    Country("LU", "EUR", 1.0, 0.0),
    Country("CN", "CNY", 8.0, 0.0),
    Country("NG", "NGN", 1.0, 0.0),
)
FOREIGN_MERCHANT_COUNTRIES: Final = ("IE", "LU", "US", "GB", "CN")

# Units of the currency per EUR, roughly; used to scale amounts only.
SUPPORTED_CURRENCIES: Final[dict[str, float]] = {
    "EUR": 1.0,
    "USD": 1.1,
    "GBP": 0.85,
    "CHF": 0.95,
    "PLN": 4.3,
    "SEK": 11.0,
    "INR": 90.0,
    "BRL": 5.5,
    "JPY": 160.0,
}

CHANNELS: Final = ("card", "card_not_present", "wallet", "bank_transfer", "upi", "cash_out")
ENTRY_MODES: Final = ("chip", "contactless", "magstripe", "ecommerce")


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    median_eur: float
    # Log-scale spread of amounts within the category.
    sigma: float
    # Share of merchants in this category.
    weight: float
    # Channel mix (card, card_not_present, wallet, bank_transfer, upi, cash_out).
    channels: tuple[float, float, float, float, float, float]
    online: bool


CATEGORIES: Final = (
    Category("grocery", 32.0, 0.7, 0.22, (0.74, 0.04, 0.20, 0.0, 0.02, 0.0), False),
    Category("restaurant", 28.0, 0.6, 0.18, (0.78, 0.02, 0.18, 0.0, 0.02, 0.0), False),
    Category("fuel", 55.0, 0.4, 0.07, (0.85, 0.0, 0.14, 0.0, 0.01, 0.0), False),
    Category("retail", 60.0, 0.8, 0.15, (0.60, 0.22, 0.16, 0.0, 0.02, 0.0), False),
    Category("online_retail", 45.0, 0.9, 0.12, (0.0, 0.74, 0.24, 0.0, 0.02, 0.0), True),
    Category("electronics", 220.0, 0.9, 0.05, (0.40, 0.48, 0.12, 0.0, 0.0, 0.0), False),
    Category("travel", 300.0, 0.8, 0.05, (0.05, 0.80, 0.15, 0.0, 0.0, 0.0), True),
    Category("digital_goods", 12.0, 0.8, 0.08, (0.0, 0.68, 0.30, 0.0, 0.02, 0.0), True),
    Category("utilities", 85.0, 0.5, 0.05, (0.0, 0.30, 0.0, 0.70, 0.0, 0.0), True),
    Category("gift_cards", 50.0, 0.6, 0.03, (0.25, 0.65, 0.10, 0.0, 0.0, 0.0), True),
)

# Relative activity by local hour 0..23: little at night, peaks at lunch and early evening.
HOUR_WEIGHTS: Final = np.array(
    [0.6, 0.3, 0.15, 0.1, 0.1, 0.2, 0.6, 1.5, 2.8, 3.6, 4.2, 5.0,
     6.0, 5.6, 4.8, 4.6, 5.0, 5.8, 6.2, 5.6, 4.4, 3.2, 2.0, 1.1],
    dtype=np.float64,
)  # fmt: skip
# Relative activity Monday..Sunday: busier towards the weekend, quiet Sunday.
WEEKDAY_FACTORS: Final = np.array([0.94, 0.96, 0.98, 1.0, 1.12, 1.18, 0.82], dtype=np.float64)


def country_code(code: str) -> int:
    return next(i for i, c in enumerate(COUNTRIES) if c.code == code)


def category_code(name: str) -> int:
    return next(i for i, c in enumerate(CATEGORIES) if c.name == name)


def channel_code(name: str) -> int:
    return CHANNELS.index(name)


def entry_code(name: str) -> int:
    return ENTRY_MODES.index(name)
