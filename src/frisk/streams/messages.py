"""What travels on the streams: payments and labels in, decisions and dead letters out.

A payment message is one JSON body exactly as ``POST /v1/score`` takes it (or, with a mapping,
the producer's own shape: ``MessageMapping``); a label message is one label as ``POST
/v1/labels`` takes it. A decision message is the JSON body ``POST /v1/score`` returns. A dead
letter names why a message was not decided, as the API's 422/409 would, beside the message:

    {"error": "invalid_input", "message": "amount=-5.0: ...", "field": "amount",
     "reason": "...", "stream": "payments", "message_id": "1733-0", "body": "<the message>"}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl

from frisk.data.conversion import convert
from frisk.data.mapping import Mapping
from frisk.data.table import transactions_of
from frisk.engine.answer import decision_body
from frisk.errors import ConflictError, FriskError, InputError, InvalidEventError, MappingError
from frisk.schema import Label, Transaction
from frisk.store.ledger import DecisionRecord, LabelWrite

__all__ = [
    "Delivery",
    "MessageMapping",
    "dead_letter",
    "decision_message",
    "read_json",
    "read_label",
    "read_payment",
]

LABEL_SOURCE = "stream"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as a broker delivered it; ``data`` is None when it carries no body field."""

    id: str  # the broker's id: a Redis entry id, a JetStream stream sequence
    data: bytes | None
    handle: Any = None  # what the broker needs to acknowledge it (a NATS message)


def read_json(data: bytes | None, field: str) -> dict[str, Any]:
    """The JSON object a message carries; ``InvalidEventError`` naming ``field`` otherwise."""
    if data is None:
        raise InvalidEventError(field, None, "the message has no such field")
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEventError(field, None, f"not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidEventError(field, body, "must be a JSON object")
    return body


def read_payment(data: bytes | None) -> Transaction:
    """A payment message as ``POST /v1/score`` would read its body."""
    return Transaction.parse(read_json(data, "event"))


def read_label(data: bytes | None, now: datetime) -> LabelWrite:
    """A label message as ``POST /v1/labels`` reads one label (time default: ``now``)."""
    body = read_json(data, "label")
    body.setdefault("label_timestamp", now)
    body.setdefault("source", LABEL_SOURCE)
    label = Label.parse(body)
    if label.label_timestamp > now:
        raise InvalidEventError(
            "label_timestamp", label.label_timestamp.isoformat(), "is in the future"
        )
    return LabelWrite(label.transaction_id, label.label.value, label.label_timestamp, label.source)


def decision_message(record: DecisionRecord) -> bytes:
    """The decision as ``POST /v1/score`` answers it (and ``GET /v1/decisions/{id}``)."""
    return orjson.dumps(decision_body(record))


def dead_letter(stream: str, delivery: Delivery, error: FriskError) -> bytes:
    """Why ``delivery`` of ``stream`` was not decided, with the message itself."""
    kind = "conflict" if isinstance(error, ConflictError) else "invalid_input"
    letter: dict[str, Any] = {"error": kind, "message": str(error)}
    if isinstance(error, InvalidEventError):
        letter.update(field=error.field, reason=error.reason)
    letter.update(
        stream=stream,
        message_id=delivery.id,
        body=None if delivery.data is None else delivery.data.decode("utf-8", "replace"),
    )
    return orjson.dumps(letter, default=str)


class MessageMapping:
    """The import's TOML column mapping, applied to a batch of a producer's own messages.

    The batch becomes one frame and goes through the importer's conversion (``frisk.data``), so a
    message reads exactly as the same row of a file would: the same names, formats, defaults,
    derived columns and the same reasons for a bad value, each naming the producer's field.
    """

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping

    def transactions(self, bodies: Sequence[dict[str, Any]]) -> list[Transaction | InputError]:
        """Each body as a ``Transaction``, or the error naming its first bad field."""
        if not bodies:
            return []
        try:
            raw = pl.DataFrame(list(bodies), infer_schema_length=None)
        except (pl.exceptions.PolarsError, TypeError, ValueError):
            # Values of one field typed differently across messages: read each on its own.
            if len(bodies) == 1:
                return [InvalidEventError("event", None, "holds values that cannot be read")]
            return [out for body in bodies for out in self.transactions([body])]
        try:
            bound = self.mapping.bind(raw.columns)
            converted = convert(raw.select(bound.needed), bound, self.mapping)
        except MappingError as exc:
            if len(bodies) > 1:  # perhaps only some messages lack a mapped field
                return [out for body in bodies for out in self.transactions([body])]
            return [InvalidEventError("event", None, str(exc))]
        problems: list[InvalidEventError | None] = [None] * raw.height
        for column, reasons in converted.problems:
            for row, reason in enumerate(reasons.to_list()):
                if reason is not None and problems[row] is None:
                    value = bodies[row].get(column)
                    problems[row] = InvalidEventError(column, value, reason)
        out: list[Transaction | InputError] = []
        for problem, body in zip(problems, transactions_of(converted.frame), strict=True):
            if problem is not None:
                out.append(problem)
                continue
            try:
                out.append(Transaction.parse(body))
            except InvalidEventError as exc:
                out.append(exc)
        return out


def now_utc() -> datetime:
    return datetime.now(UTC)
