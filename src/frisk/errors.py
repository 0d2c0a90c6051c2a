"""Errors raised by Frisk.

Every error Frisk raises on purpose derives from ``FriskError``; messages name the offending value,
field or row. Driver errors (sqlite3, psycopg, redis, lightgbm) are translated once, at the store or
model boundary. The domain knows nothing of HTTP: ``service`` maps these classes to status codes.

    FriskError
    ├── ConfigError            settings or a config file that cannot be used
    ├── InputError             input that breaks the data model
    │   ├── InvalidEventError    one event (field, value, reason)
    │   │   └── LateEventError     an event further behind the feature clock than the bound
    │   ├── InvalidRowsError     rows of an imported file (row, column, reason), refused as a whole
    │   ├── MappingError         a column-mapping file that cannot be applied
    │   ├── DataFormatError      a file that cannot be read at all
    │   └── RuleError            a rule, rule set or list that cannot be used (frisk.policy.errors)
    │       └── RuleSyntaxError    an expression that does not parse or type-check (with position)
    ├── FeatureError           a feature catalogue or definition that cannot be built
    ├── ModelError             training, scoring or a model artifact
    │   └── ArtifactError        a missing, corrupt or mismatched artifact
    ├── StoreError             a ledger or state store that failed
    │   ├── RecordRefusedError   one record the store cannot hold (its content), the rest can
    │   └── StateUnavailable     the shared feature state cannot be reached in time (or written)
    ├── ClaimHeld              another process holds the claim on a transaction; nothing written
    ├── NotFoundError          a named thing (model version, review, rule) does not exist
    ├── NotReadyError          nothing can be decided yet (no engine, or one still warming)
    └── ConflictError          a request contradicts what is already recorded
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ArtifactError",
    "ClaimHeld",
    "ConfigError",
    "ConflictError",
    "DataFormatError",
    "FeatureError",
    "FriskError",
    "InputError",
    "InvalidEventError",
    "InvalidRowsError",
    "LateEventError",
    "MappingError",
    "ModelError",
    "NotFoundError",
    "NotReadyError",
    "RecordRefusedError",
    "RowProblem",
    "StateUnavailable",
    "StoreError",
]


class FriskError(Exception):
    """Base class of every error Frisk raises on purpose."""


class ConfigError(FriskError):
    """Settings or a configuration file that cannot be used."""


class InputError(FriskError):
    """Input that breaks the data model."""


class InvalidEventError(InputError):
    """One event with a field that breaks the data model."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class LateEventError(InvalidEventError):
    """An event older than the feature state's clock by more than the lateness bound
    (``FRISK_STATE__MAX_LATENESS``): refused, nothing of it learnt."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one row of an input file was rejected; ``row`` counts data rows from 1."""

    row: int
    column: str
    reason: str
    # The row's id when it has a readable one; not part of what the problem is.
    transaction_id: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}: {self.reason}"


class InvalidRowsError(InputError):
    """Rows of an imported file break the data model; the file was refused as a whole."""

    def __init__(self, problems: list[RowProblem], total: int, source: str = "input") -> None:
        self.problems = problems
        self.total = total
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {total - 5} more)" if total > 5 else ""
        super().__init__(
            f"{source}: {total} invalid row(s), file refused (use --skip-invalid to drop them): "
            f"{shown}{more}"
        )


class MappingError(InputError):
    """A column-mapping file that cannot be applied to the data."""


class DataFormatError(InputError):
    """A file that cannot be read at all (unknown format, unreadable, empty)."""


class FeatureError(FriskError):
    """A feature catalogue or definition that cannot be built."""


class ModelError(FriskError):
    """Training, scoring or evaluating a model failed."""


class ArtifactError(ModelError):
    """A model artifact that is missing, corrupt or does not match this Frisk."""


class StoreError(FriskError):
    """A ledger or feature-state store failed."""


class StateUnavailable(StoreError):
    """The shared feature state (Redis) did not answer in time, refused a write or was lost."""


class ClaimHeld(FriskError):
    """Another process holds the claim on the transaction being decided (``EventClaim``): the
    shared store wrote nothing of its event. The decider waits for that process's decision."""


class RecordRefusedError(StoreError):
    """The store refused a record for what it holds; other records are unaffected."""


class NotFoundError(FriskError):
    """A named thing (model version, review, rule, list) does not exist."""


class NotReadyError(FriskError):
    """Nothing can be decided yet: no decision engine, or one that is not ready."""


class ConflictError(FriskError):
    """A request contradicts what is already recorded (e.g. the same id with another body)."""
