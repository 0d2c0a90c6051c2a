"""The domain vocabulary: transactions, labels and the canonical event table's columns.

Pydantic models validate single events at the edges (HTTP, JSON Lines); bulk data lives in a
columnar table whose columns are named by the constants below (see ``frisk.data.table``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError

from frisk.bounds import (
    CLEAN_TEXT_PATTERN,
    EARLIEST,
    LATEST,
    MAX_EXTRA_NUMBER,
    MAX_EXTRA_TEXT,
    MAX_EXTRAS,
    NEGATIVE_AMOUNT,
    check_amount,
    text_problem,
)
from frisk.currencies import is_currency
from frisk.errors import InvalidEventError

__all__ = [
    "CORE_COLUMNS",
    "EVENT_COLUMNS",
    "KNOWN_COLUMNS",
    "LABEL_COLUMNS",
    "NEGATIVE_AMOUNT",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SCENARIO_COLUMN",
    "Action",
    "Channel",
    "EventTime",
    "Label",
    "LabelValue",
    "Reason",
    "RiskTier",
    "Role",
    "Transaction",
    "Verdict",
    "amount_problem",
    "first_error",
    "parse_label",
    "reason_of",
]

# Columns of the canonical event table, in order.
REQUIRED_COLUMNS: Final = (
    "transaction_id",
    "timestamp",
    "amount",
    "currency",
    "payer_id",
    "payee_id",
)
OPTIONAL_COLUMNS: Final = (
    "device_id",
    "channel",
    "merchant_category",
    "payer_country",
    "payee_country",
)
CORE_COLUMNS: Final = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# Outcome columns: known at label_timestamp, never at the event's own time.
LABEL_COLUMNS: Final = ("label", "label_timestamp", "label_source")
# Ground truth of simulated or annotated data; used for evaluation only, never as a feature.
SCENARIO_COLUMN: Final = "scenario"
EVENT_COLUMNS: Final = CORE_COLUMNS + LABEL_COLUMNS
KNOWN_COLUMNS: Final = (*EVENT_COLUMNS, SCENARIO_COLUMN)

# Ids and names: clean text (frisk.bounds), so every back end stores them and every screen shows
# them as they are. A pattern, checked by pydantic-core without a Python call (an AfterValidator
# per field cost ~1.3 µs each, measured); ``reason_of`` words its refusal.
_ID = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=256, pattern=CLEAN_TEXT_PATTERN
    ),
]
_NAME = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=CLEAN_TEXT_PATTERN
    ),
]
#: an event's time: timezone-aware, within frisk.bounds' absolute range
EventTime = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_EXTRA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

ExtraValue = float | int | str | bool | None


def amount_problem(value: float) -> str | None:
    """Why ``value`` cannot be a payment's amount, or None (``frisk.bounds.check_amount``)."""
    return check_amount(value)


class Channel(StrEnum):
    """Channels Frisk knows by name; any other lower-case name is accepted as well."""

    CARD = "card"
    CARD_NOT_PRESENT = "card_not_present"
    UPI = "upi"
    WALLET = "wallet"
    BANK_TRANSFER = "bank_transfer"
    CASH_OUT = "cash_out"


class LabelValue(StrEnum):
    FRAUD = "fraud"
    LEGIT = "legit"


class RiskTier(StrEnum):
    """How risky a payment is, for people: from its calibrated probability of fraud."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Action(StrEnum):
    """What the caller should do with the payment; every action but ``allow`` is an alert."""

    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class Role(StrEnum):
    """What an API key may do: ``scorer`` scores, ``analyst`` reads, ``admin`` does everything."""

    SCORER = "scorer"
    ANALYST = "analyst"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Reason:
    """One feature's part in a score, with a sentence an analyst can read."""

    feature: str
    value: float | str | None
    contribution: float  # signed, in the model's margin units
    sentence: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the decision core decided about one transaction."""

    score: float  # calibrated probability of fraud, in [0, 1]
    risk_score: int  # 0-100, for people and rules
    risk_tier: str
    action: Action
    reasons: tuple[Reason, ...]
    features: Mapping[str, float | None]  # the values the model saw, recorded for audit
    model_version: str
    # True when a fallback produced the verdict (e.g. a feature store timed out); counted.
    degraded: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)  # milliseconds per stage
    # What the rules and lists did (``PolicyDecision.to_json``): who decided, every rule that
    # matched with the values it read. None when the engine decides without a policy.
    policy: Mapping[str, Any] | None = None


class Transaction(BaseModel):
    """One payment event as it happens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_id: _ID
    timestamp: EventTime
    # A JSON number: "12.5" and true are refused, not coerced. Zero is a payment too (card
    # verification, free trials, card testing); a negative amount (a refund or reversal) is not
    # a payment to decide on. Bounds in frisk.bounds.
    amount: float = Field(strict=True)
    currency: str = Field(min_length=3, max_length=3)
    payer_id: _ID
    payee_id: _ID
    device_id: _ID | None = None
    channel: _NAME | None = None
    merchant_category: _NAME | None = None
    payer_country: str | None = None
    payee_country: str | None = None
    extra: dict[str, ExtraValue] = Field(default_factory=dict, max_length=MAX_EXTRAS)

    @field_validator("amount")
    @classmethod
    def _finite(cls, value: float) -> float:
        problem = check_amount(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        code = value.upper()
        if not is_currency(code):
            raise ValueError("is not an ISO 4217 currency code")
        return code

    @field_validator("payer_country", "payee_country")
    @classmethod
    def _iso_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        if not _COUNTRY.match(code):
            raise ValueError("is not an ISO 3166 alpha-2 country code")
        return code

    @field_validator("channel", "merchant_category")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return None if value is None else value.lower()

    @field_validator("extra")
    @classmethod
    def _extra_names(cls, value: dict[str, ExtraValue]) -> dict[str, ExtraValue]:
        for name, item in value.items():
            if not _EXTRA_NAME.match(name) or name in KNOWN_COLUMNS:
                raise ValueError(f"extra attribute name {name!r} is not allowed")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"extra attribute {name!r} must be finite")
            if isinstance(item, int | float) and abs(item) > MAX_EXTRA_NUMBER:
                raise ValueError(f"extra attribute {name!r} must lie within ±{MAX_EXTRA_NUMBER:g}")
            if isinstance(item, str):
                if len(item) > MAX_EXTRA_TEXT:
                    raise ValueError(
                        f"extra attribute {name!r} holds at most {MAX_EXTRA_TEXT} characters"
                    )
                problem = text_problem(item)
                if problem is not None:
                    raise ValueError(f"extra attribute {name!r} {problem}")
        return value

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Transaction:
        """Validate one event, raising ``InvalidEventError`` that names the field and value."""
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise first_error(exc, data) from exc


class Label(BaseModel):
    """The outcome of a transaction, known from ``label_timestamp`` on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_id: _ID
    label: LabelValue
    label_timestamp: EventTime
    source: _NAME = "unknown"

    @field_validator("label", mode="before")
    @classmethod
    def _label(cls, value: object) -> LabelValue:
        return parse_label(value)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Label:
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise first_error(exc, data) from exc

    @property
    def is_fraud(self) -> bool:
        return self.label is LabelValue.FRAUD


_FRAUD_WORDS: Final = frozenset({"fraud", "1", "true", "yes", "y", "t"})
_LEGIT_WORDS: Final = frozenset({"legit", "0", "false", "no", "n", "f", "genuine", "ok"})
_NUMBER_LABEL: Final = re.compile(r"^[+-]?[01](\.0*)?$")


def parse_label(value: object) -> LabelValue:
    """Read a label from the spellings real files use: fraud/legit, 1/0, true/false, yes/no."""
    if isinstance(value, LabelValue):
        return value
    if isinstance(value, bool):
        return LabelValue.FRAUD if value else LabelValue.LEGIT
    if isinstance(value, int | float) and value in (0, 1):
        return LabelValue.FRAUD if value == 1 else LabelValue.LEGIT
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _FRAUD_WORDS:
            return LabelValue.FRAUD
        if word in _LEGIT_WORDS:
            return LabelValue.LEGIT
        # "1.0"/"0.0": what a 0/1 column becomes once pandas has read it with a missing value.
        if _NUMBER_LABEL.match(word):
            number = float(word)
            if number in (0.0, 1.0):
                return LabelValue.FRAUD if number == 1.0 else LabelValue.LEGIT
    raise ValueError(f"{value!r} is not a label (fraud/legit, 1/0, true/false)")


def reason_of(error: Any) -> str:
    """Why pydantic refused a value, in our words where its own are about internals (the clean
    text pattern of ``frisk.bounds``)."""
    if error.get("type") == "string_pattern_mismatch" and isinstance(error.get("input"), str):
        problem = text_problem(error["input"])
        if problem is not None:
            return problem
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def first_error(exc: PydanticValidationError, data: dict[str, Any]) -> InvalidEventError:
    """Translate pydantic's error into one that names the field and the offending value."""
    err = exc.errors()[0]
    loc = [str(part) for part in err["loc"]]
    field = ".".join(loc) if loc else "event"
    value: object = data
    for part in err["loc"]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            value = err.get("input")
            break
    message = reason_of(err)
    if isinstance(value, datetime) and value.tzinfo is None and "timezone" in message:
        message = "must be timezone-aware"
    return InvalidEventError(field, value, message)
