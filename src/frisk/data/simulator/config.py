"""``SimulationConfig``: every knob of the payment simulator, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from frisk.data.simulator.catalog import SUPPORTED_CURRENCIES
from frisk.errors import ConfigError

__all__ = ["SCENARIOS", "SimulationConfig"]

# Fraud scenarios in a fixed order: their index is their code inside the simulator.
SCENARIOS: tuple[str, ...] = (
    "account_takeover",
    "card_testing",
    "compromised_merchant",
    "mule_account",
    "social_engineering",
    "amount_anomaly",
    "friendly_fraud",
)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate; the same config always gives the same table.

    ``days`` and ``payers`` set the size (about ``1.1 * days * payers`` transactions).
    ``fraud_rate`` is the share of transactions that are fraud. ``drift_at`` is the day (counted
    from 0) from which the fraud mix and some legit behaviour change; ``None`` means no drift.
    ``start`` gives the first day (its time of day is ignored). ``currencies`` lists the
    home currencies of payers; the first is the most common.
    """

    days: int = 30
    payers: int = 5000
    seed: int = 7
    fraud_rate: float = 0.007
    start: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    drift_at: int | None = None
    currencies: tuple[str, ...] = ("EUR",)
    # Mean legit transactions per payer and day, before seasonality and per-payer activity.
    mean_daily_txns: float = 1.1

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ConfigError(f"days={self.days}: must be at least 1")
        if self.payers < 20:
            raise ConfigError(f"payers={self.payers}: must be at least 20")
        if not 0.0 <= self.fraud_rate < 0.5:
            raise ConfigError(f"fraud_rate={self.fraud_rate}: must be in [0, 0.5)")
        if self.start.tzinfo is None:
            raise ConfigError(f"start={self.start.isoformat()}: must be timezone-aware")
        if self.drift_at is not None and not 0 < self.drift_at < self.days:
            raise ConfigError(f"drift_at={self.drift_at}: must be a day in 1..{self.days - 1}")
        if not self.currencies:
            raise ConfigError("currencies: at least one currency is needed")
        if len(set(self.currencies)) != len(self.currencies):
            raise ConfigError(f"currencies={','.join(self.currencies)}: listed twice")
        if not 0.0 < self.mean_daily_txns <= 50.0:
            raise ConfigError(f"mean_daily_txns={self.mean_daily_txns}: must be in (0, 50]")
        for code in self.currencies:
            if code not in SUPPORTED_CURRENCIES:
                raise ConfigError(
                    f"currency {code!r} is not simulated; choose from "
                    f"{', '.join(SUPPORTED_CURRENCIES)}"
                )

    @property
    def start_us(self) -> int:
        """Midnight UTC of the first day, in microseconds since the epoch."""
        day = self.start.astimezone(UTC).date()
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000

    @property
    def start_weekday(self) -> int:
        """Weekday of the first day, Monday = 0."""
        return self.start.astimezone(UTC).weekday()
