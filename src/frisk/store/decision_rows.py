"""Reading decision rows, packed (migration 0004 on) or with the JSON columns of before, alike.

A reader selects ``payload_columns()`` (with ``transaction_id`` and ``event_time``) and passes each
row's mapping through ``unpack_payload``: the transaction, reasons, timings, policy and body hash
then read as the JSON columns gave them, whichever way the row was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from frisk.store.decision_codec import unpack_record
from frisk.store.tables import decisions

__all__ = [
    "PAYLOAD",
    "payload_columns",
    "transaction_of",
    "unpack_payload",
    "unpack_records_to_json",
]

# What a packed record holds, by the names of the columns that held it before.
PAYLOAD = ("transaction", "reasons", "timings", "policy", "body_hash")


def payload_columns(*names: str) -> Iterable[sa.ColumnElement[Any]]:
    """The columns to select for the payload fields ``names`` (all of them if none)."""
    return (decisions.c.record, *(decisions.c[n] for n in (names or PAYLOAD)))


def unpack_payload(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a row's mapping, as a dict) with its packed ``record`` put in the payload
    columns it selected; ``record`` and ``amount`` (a copy of the transaction's) are dropped."""
    record = values.pop("record", None)
    values.pop("amount", None)
    if record is not None:
        unpacked = unpack_record(record, values["transaction_id"], values["event_time"])
        for name in PAYLOAD:
            if name in values:
                values[name] = getattr(unpacked, name)
    return values


def transaction_of(row: Mapping[Any, Any]) -> Any:
    """The transaction of a row that selected ``payload_columns("transaction")``."""
    record = row["record"]
    if record is None:
        return row["transaction"]
    return unpack_record(record, row["transaction_id"], row["event_time"]).transaction


def unpack_records_to_json(conn: Connection, *, batch: int = 1000) -> int:
    """Write the JSON columns of every packed row (migration 0004's downgrade); the count."""
    json_type = decisions.c.transaction.type
    table = sa.table(
        "decisions",
        sa.column("transaction_id", sa.String()),
        sa.column("event_time", decisions.c.event_time.type),
        sa.column("record", sa.LargeBinary()),
        sa.column("body_hash", sa.String()),
        *(sa.column(name, json_type) for name in ("transaction", "reasons", "timings", "policy")),
    )
    done = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.transaction_id, table.c.event_time, table.c.record)
            .where(table.c.record.is_not(None))
            .limit(batch)
        ).all()
        for row in rows:
            unpacked = unpack_record(row.record, row.transaction_id, row.event_time)
            conn.execute(
                table.update()
                .where(table.c.transaction_id == row.transaction_id)
                .values(
                    record=None,
                    body_hash=unpacked.body_hash,
                    transaction=unpacked.transaction,
                    reasons=unpacked.reasons,
                    timings=unpacked.timings,
                    policy=unpacked.policy,
                )
            )
        done += len(rows)
        if len(rows) < batch:
            return done
