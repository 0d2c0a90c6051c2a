"""Input bounds: the one definition of what an event may hold, for every entry point.

The JSON API (``POST /v1/score``, ``/v1/score/batch``), uploads, imports and labels all check
events against the rules here, so a value refused at one door is refused at every other, and a
value that gets in cannot hurt another caller (a far-future time stopping the feature clock, an
amount overflowing a feature sum, a NUL that the PostgreSQL ledger cannot store).

- **Text** (ids, names, extra values and names): no control characters (C0, DEL, C1), no
  Unicode bidirectional formatting characters (which make an id read differently from what it
  is), no byte-order mark, no lone surrogates. NUL is one of them: refused everywhere, whatever
  the ledger's back end.
- **Amounts**: finite, ``0 <= amount <= AMOUNT_MAX``. Zero is a payment (card verification, free
  trials, card testing); a negative amount is refused (``NEGATIVE_AMOUNT``). The maximum is ten
  billion in the currency's units: below the feature sums' exact-integer range, so nothing is
  clamped. No more decimal places than the currency has (ISO 4217 minor units) for live events; a
  JSON number, never a string or a boolean.
- **Extras**: at most ``MAX_EXTRAS`` attributes; text values at most ``MAX_EXTRA_TEXT``
  characters; numbers finite and within ``±MAX_EXTRA_NUMBER``.
- **Time**: every event lies within ``EARLIEST``..``LATEST``. Live scoring narrows that to a
  window around the server's clock (``EventWindow``: by default no more than 5 minutes ahead and
  no more than 30 days back, the feature catalogue's retention); imports may carry any history,
  but not the future.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from frisk.currencies import CURRENCIES
from frisk.errors import InvalidEventError

__all__ = [
    "AMOUNT_MAX",
    "CLEAN_TEXT_PATTERN",
    "EARLIEST",
    "FORBIDDEN_TEXT",
    "LATEST",
    "MAX_EXTRAS",
    "MAX_EXTRA_NUMBER",
    "MAX_EXTRA_TEXT",
    "NEGATIVE_AMOUNT",
    "EventWindow",
    "check_amount",
    "decimals_problem",
    "text_problem",
]

# Why a negative amount is refused everywhere (import, API, online features): a refund or
# reversal moves money back for an earlier payment; it is not a new payment to allow or block, and
# counting it into an entity's sums and means would make "how much does this payer spend" lower
# after a chargeback. Leave such rows out of event files (or import with --skip-invalid, which
# counts them in the report), or send them as labels/notes on the original transaction.
NEGATIVE_AMOUNT: Final = (
    "is negative: a refund or reversal is not a payment to score (amounts must be >= 0)"
)
#: the largest amount, in the currency's units (feature sums hold 2**42 - 1 minor units exactly)
AMOUNT_MAX: Final = 10_000_000_000.0
#: no event of any entry point lies before this or after ``LATEST``
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
MAX_EXTRAS: Final = 64
MAX_EXTRA_TEXT: Final = 1024
MAX_EXTRA_NUMBER: Final = 1e15

#: characters no id, name or text value may hold: C0 and C1 controls, DEL, bidirectional
#: formatting (LRM, RLM, ALM, LRE..RLO, LRI..PDI), the byte-order mark and lone surrogates
FORBIDDEN_TEXT: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
#: a whole string free of them, as a pattern for pydantic's (Rust) regex engine: checked without a
#: Python call (lone surrogates cannot reach it: they are not valid UTF-8)
CLEAN_TEXT_PATTERN: Final = (
    "^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]*$"
)
#: the same class as a pattern for polars (no surrogates there: its strings are valid UTF-8)
FORBIDDEN_TEXT_PATTERN: Final = (
    r"[\x00-\x1f\x7f-\x9f\x{061c}\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}\x{feff}]"
)
_UNIT_SLACK: Final = 1e-3  # of a minor unit: float noise in ``12.34 * 100``
_SCALES: Final = {code: 10.0**places for code, places in CURRENCIES.items()}


def text_problem(value: str) -> str | None:
    """Why ``value`` may not be an id or text value, or None when it may."""
    found = FORBIDDEN_TEXT.search(value)
    if found is None:
        return None
    char = found.group()
    return f"must not contain control or formatting characters (found U+{ord(char):04X})"


def check_amount(value: float, currency: str | None = None) -> str | None:
    """Why ``value`` is not an amount (in ``currency``, when given: its decimal places), or None."""
    if not math.isfinite(value):
        return "must be a finite number"
    if value < 0:
        return NEGATIVE_AMOUNT
    if value > AMOUNT_MAX:
        return f"must be <= {AMOUNT_MAX:,.0f}"
    return None if currency is None else decimals_problem(value, currency)


def decimals_problem(value: float, currency: str) -> str | None:
    """Why ``value`` has more decimal places than ``currency`` (ISO 4217 minor units), or None."""
    scale = _SCALES.get(currency)
    if scale is None:
        return None
    units = value * scale
    if not math.isfinite(units):  # 1e308 in cents, infinities, NaN: not an amount at all
        return check_amount(value) or "must be a finite number"
    if abs(units - round(units)) > _UNIT_SLACK:
        return f"has more decimal places than {currency} has ({CURRENCIES[currency]})"
    return None


@dataclass(frozen=True, slots=True)
class EventWindow:
    """How far from the server's clock a live event's time may be.

    ``ahead``: clock skew allowed into the future; ``behind``: how old an event may be (None: any
    age down to ``EARLIEST``). Feature state runs on event time and never goes back, so one event
    far in the future would freeze every entity's clock there; one far in the past is learnt at
    the latest time seen instead of its own.
    """

    ahead: timedelta = timedelta(minutes=5)
    behind: timedelta | None = timedelta(days=30)

    def problem(self, moment: datetime, now: datetime) -> str | None:
        """Why ``moment`` (timezone-aware) is outside the window around ``now``, or None."""
        if moment > now + self.ahead:
            return (
                f"is more than {_span(self.ahead)} ahead of the server's clock "
                f"({now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})"
            )
        if self.behind is not None and moment < now - self.behind:
            return (
                f"is more than {_span(self.behind)} behind the server's clock "
                f"({now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}); import history with frisk import"
            )
        return _absolute(moment)

    def check(self, field: str, moment: datetime, now: datetime | None = None) -> None:
        """Raise ``InvalidEventError`` naming ``field`` when ``moment`` is outside the window."""
        if now is None:  # the hot path: float seconds, no datetime arithmetic
            at, current = moment.timestamp(), time.time()
            behind = self.behind
            if at <= current + self.ahead.total_seconds() and (
                behind is None or at >= current - behind.total_seconds()
            ):
                return
        problem = self.problem(moment, datetime.now(UTC) if now is None else now)
        if problem is not None:
            raise InvalidEventError(field, moment.isoformat(), problem)


def _absolute(moment: datetime) -> str | None:
    if moment < EARLIEST or moment >= LATEST:
        return f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
    return None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    if seconds % 60 == 0:
        return f"{seconds // 60} minute(s)"
    return f"{seconds} second(s)"
