"""Transactions to try on the Score page: sensible defaults and random realistic examples.

Ids follow the simulator's shapes (payers ``P#####``, merchants ``M#####``, devices ``D#####``),
so against the demo's API an example often lands on a payer with history.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["CHANNELS", "CURRENCIES", "default_transaction", "random_transaction"]

CHANNELS = ("card", "card_not_present", "wallet", "bank_transfer", "upi")
CURRENCIES = ("EUR", "USD", "GBP", "INR")
COUNTRIES = ("FR", "DE", "ES", "IT", "NL")

# (category, median amount, spread of log amount, weight): shaped like the simulator's spending.
_CATEGORIES = (
    ("grocery", 45.0, 0.6, 0.22),
    ("restaurant", 30.0, 0.5, 0.14),
    ("retail", 70.0, 0.8, 0.16),
    ("online_retail", 60.0, 0.9, 0.16),
    ("fuel", 55.0, 0.4, 0.08),
    ("utilities", 90.0, 0.5, 0.07),
    ("travel", 350.0, 0.9, 0.05),
    ("electronics", 280.0, 0.9, 0.05),
    ("digital_goods", 20.0, 0.8, 0.04),
    ("gift_cards", 100.0, 0.7, 0.03),
)
_CHANNEL_WEIGHTS = (0.25, 0.4, 0.15, 0.15, 0.05)


def default_transaction(now: datetime | None = None) -> dict[str, Any]:
    """An ordinary card payment at a grocer, now."""
    return {
        "transaction_id": new_transaction_id(),
        "timestamp": _iso(now or datetime.now(UTC)),
        "amount": 42.5,
        "currency": "EUR",
        "payer_id": "P00042",
        "payee_id": "M00007",
        "device_id": "D00042",
        "channel": "card",
        "merchant_category": "grocery",
        "payer_country": "FR",
        "payee_country": "FR",
        "extra": {"account_age_days": 730, "entry_mode": "chip"},
    }


def random_transaction(rng: random.Random, now: datetime | None = None) -> dict[str, Any]:
    """A plausible payment; one in five looks risky (big, new device, abroad, young account)."""
    risky = rng.random() < 0.2
    category, median, spread, _ = rng.choices(_CATEGORIES, weights=[c[3] for c in _CATEGORIES])[0]
    amount = median * math.exp(rng.gauss(0.0, spread)) * (rng.uniform(8, 40) if risky else 1.0)
    channel = rng.choices(CHANNELS, weights=_CHANNEL_WEIGHTS)[0]
    payer = rng.randrange(100_000)
    home = rng.choice(COUNTRIES)
    person_to_person = channel in ("bank_transfer", "upi") and rng.random() < 0.6
    payee = f"P{rng.randrange(100_000):05d}" if person_to_person else f"M{rng.randrange(300):05d}"
    device = f"D{rng.randrange(100_000):05d}" if risky else f"D{payer:05d}"
    extra: dict[str, Any] = {
        "account_age_days": rng.randrange(1, 30) if risky else rng.randrange(60, 3000),
    }
    if channel == "card":
        extra["entry_mode"] = rng.choice(("chip", "contactless", "magstripe" if risky else "chip"))
    elif channel == "card_not_present":
        extra["entry_mode"] = "ecommerce"
    return {
        "transaction_id": new_transaction_id(),
        "timestamp": _iso(now or datetime.now(UTC)),
        "amount": round(max(amount, 0.5), 2),
        "currency": "EUR",
        "payer_id": f"P{payer:05d}",
        "payee_id": payee,
        "device_id": device,
        "channel": channel,
        "merchant_category": None if person_to_person else category,
        "payer_country": home,
        "payee_country": rng.choice(COUNTRIES) if risky else home,
        "extra": extra,
    }


def new_transaction_id() -> str:
    return f"ui-{uuid.uuid4().hex[:12]}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
