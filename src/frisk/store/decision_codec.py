"""The rest of a decision's payload as one packed record: ``pack_record`` and ``unpack_record``.

The features are packed on their own (``frisk.store.feature_codec``); this packs what else a
decision keeps that no query filters on: the transaction as received, the reasons, the timings,
what the policy did, and the request's SHA-256. As JSON columns these were ~530 B a decision on
SQLite (~790 B as PostgreSQL's jsonb) for ~130 B here. What comes back is exactly what the JSON
columns gave back (orjson text in, ``orjson.loads`` out).

Layout, format 1::

    [1][flags][32 bytes of SHA-256 | varint length + UTF-8 text][raw deflate of the JSON]

The JSON is ``[transaction, reasons, timings, policy]`` compressed with a preset dictionary of
what such records repeat (keys, the policy of a model-only decision), in a 2 KB window. Two
values the row already keeps are left out of the transaction and put back on reading: its
``transaction_id`` (the row's key) and its ``timestamp`` when it is the row's ``event_time`` as
the API writes it. Flags say which of these apply; a record that matches none of them is still
stored whole. The dictionary is part of the format: a new one is a new format number.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from frisk.errors import RecordRefusedError, StoreError

__all__ = ["UnpackedRecord", "iso_time", "pack_record", "unpack_record"]

_FORMAT = 1
_HASH_BYTES = 0x01  # the SHA-256 as 32 bytes (else a varint length and its text)
_NO_ID = 0x02  # the transaction's first key was "transaction_id", the row's id
_NO_TIME = 0x04  # its next key was "timestamp", the row's event time as ``iso_time`` writes it
_WBITS = -11  # raw deflate, a 2 KB window (the dictionary and a record fit in it)
_MEM_LEVEL = 2  # small state: a compressor costs ~10 µs to set up with the dictionary
_LEVEL = 6
_HEX = frozenset("0123456789abcdef")
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
# JSON's escape of a NUL: "\u0000" after an even number of backslashes (an odd one is a text
# holding a backslash followed by "u0000", which is no NUL).
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")

# What records repeat, most frequent last (deflate reaches the nearest copy in fewer bits).
# Changing one byte of it changes the meaning of every stored record: make a new format instead.
_DICTIONARY = (
    b'"sentence":"payee has 1 reported fraud in the last 7 days"},{"feature":"extra_entry_mode",'
    b'"value":"magstripe","contribution":0.1,"sentence":"entry mode is magstripe"},'
    b'{"feature":"amount","value":1.0,"contribution":0.7,"sentence":"amount 1.0 is 2.5\xc3\x97 '
    b"this payer's average payment\"}],"
    b'{"decided_by":"rule","action":"block","model_action":"review","matched":[{"name":"'
    b'","action":"review","mode":"active","values":{"amount":'
    b'}}],"tags":[],"lists":[{"name":"","kind":"block","field":"payer_id","value":"'
    b'"}],"rules_version":1,"lists_version":1}]'
    b'"extra":{"account_age_days":1.0,"entry_mode":"chip","ip_country":"FR","card_bin":"'
    b'"merchant_category":"grocery","payer_country":"DE","payee_country":"NL"'
    b'"currency":"USD","channel":"web","device_id":"D'
    b'[{"transaction_id":"T0000000000","timestamp":"2024-01-15T00:02:43.371409Z",'
    b'"amount":24.56,"currency":"EUR","payer_id":"P49531","payee_id":"M00077",'
    b'"device_id":"D37936","channel":"wallet","merchant_category":"retail",'
    b'"payer_country":"FR","payee_country":"DE","extra":{}},[],'
    b'{"features":0.176,"model":0.37,"reasons":0.002,"policy":0.031,"total":0.706},'
    b'{"decided_by":"model","action":"allow","model_action":"allow","matched":[],"tags":[],'
    b'"lists":[],"rules_version":0,"lists_version":0}]'
)
_COMPRESSOR = zlib.compressobj(
    _LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, _DICTIONARY
)


@dataclass(frozen=True, slots=True)
class UnpackedRecord:
    """What a packed record holds, as the JSON columns gave it back."""

    transaction: dict[str, Any]
    reasons: list[Any]
    timings: dict[str, Any]
    policy: dict[str, Any] | None
    body_hash: str


def iso_time(value: datetime) -> str:
    """``value`` in UTC as the API's transactions write it (``2024-01-15T00:02:43.371409Z``)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def pack_record(
    *,
    transaction_id: str,
    event_time: datetime,
    body_hash: str,
    transaction: Mapping[str, Any],
    reasons: Sequence[Any],
    timings: Mapping[str, Any],
    policy: Mapping[str, Any] | None,
) -> bytes:
    """The packed record; ``RecordRefusedError`` if it cannot be one (no JSON, a NUL in a text)."""
    flags = 0
    txn: Mapping[str, Any] = transaction
    keys = iter(transaction)
    if next(keys, None) == "transaction_id" and transaction["transaction_id"] == transaction_id:
        flags |= _NO_ID
        if next(keys, None) == "timestamp" and transaction["timestamp"] == iso_time(event_time):
            flags |= _NO_TIME
        skip = 2 if flags & _NO_TIME else 1
        txn = {k: v for i, (k, v) in enumerate(transaction.items()) if i >= skip}
    try:
        text = orjson.dumps([txn, reasons, timings, policy], default=_plain, option=_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError included
        raise RecordRefusedError(f"it does not encode as JSON: {exc}") from exc
    if (b"\\u0000" in text and _NUL.search(text)) or "\x00" in body_hash:
        # As the API refuses them, and as PostgreSQL's text and jsonb never held them.
        raise RecordRefusedError("it holds a NUL character, which the ledger does not store")
    if len(body_hash) == 64 and _HEX.issuperset(body_hash):
        flags |= _HASH_BYTES
        digest = bytes.fromhex(body_hash)
    else:
        raw = body_hash.encode()
        digest = _varint(len(raw)) + raw
    compressor = _COMPRESSOR.copy()
    return b"".join(
        (bytes((_FORMAT, flags)), digest, compressor.compress(text), compressor.flush())
    )


def unpack_record(blob: bytes, transaction_id: str, event_time: datetime) -> UnpackedRecord:
    """What ``pack_record`` packed for the row of ``transaction_id`` at ``event_time``."""
    blob = bytes(blob)
    if len(blob) < 2 or blob[0] != _FORMAT:
        raise StoreError(f"a packed decision record of unknown format {blob[:1]!r}")
    flags = blob[1]
    try:
        if flags & _HASH_BYTES:
            body_hash, at = blob[2:34].hex(), 34
            if len(body_hash) != 64:
                raise ValueError("cut short")
        else:
            length, at = _read_varint(blob, 2)
            body_hash, at = blob[at : at + length].decode(), at + length
        decompressor = zlib.decompressobj(_WBITS, _DICTIONARY)
        text = decompressor.decompress(blob[at:]) + decompressor.flush()
        if not decompressor.eof or decompressor.unused_data:
            raise ValueError("its deflate stream does not end where the record does")
        txn, reasons, timings, policy = orjson.loads(text)
    except (ValueError, IndexError, zlib.error) as exc:  # orjson.JSONDecodeError included
        raise StoreError(f"a packed decision record that does not read back: {exc}") from exc
    if flags & _NO_ID:
        front: dict[str, Any] = {"transaction_id": transaction_id}
        if flags & _NO_TIME:
            front["timestamp"] = iso_time(event_time)
        txn = {**front, **txn}
    return UnpackedRecord(txn, reasons, timings, policy, body_hash)


def _plain(value: Any) -> Any:
    """What orjson cannot encode natively: mappings other than dict, numpy scalars."""
    if isinstance(value, Mapping):
        return dict(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(blob: bytes, at: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        byte = blob[at]
        at += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return n, at
        shift += 7
