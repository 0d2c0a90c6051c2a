"""The packed decision record gives back exactly what the JSON columns gave back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from frisk.errors import RecordRefusedError, StoreError
from frisk.store.decision_codec import UnpackedRecord, iso_time, pack_record, unpack_record

T0 = datetime(2024, 1, 15, 0, 2, 43, 371409, tzinfo=UTC)
HASH = "3d994f764072527d80dce1c8942873a36ce8963c666d2a7e1f161b58bcc40f7f"

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)
_OBJECT = st.dictionaries(_TEXT, _JSON, max_size=8)


def pack(txn_id: str, at: datetime, body_hash: str, txn: Any, reasons: Any, timings: Any,
         policy: Any) -> bytes:  # fmt: skip
    return pack_record(
        transaction_id=txn_id,
        event_time=at,
        body_hash=body_hash,
        transaction=txn,
        reasons=reasons,
        timings=timings,
        policy=policy,
    )


def as_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


@given(
    txn_id=_TEXT,
    minutes=st.integers(min_value=0, max_value=10**7),
    body_hash=st.one_of(_TEXT, st.binary(min_size=32, max_size=32).map(bytes.hex)),
    txn=_OBJECT,
    with_id=st.booleans(),
    with_time=st.booleans(),
    reasons=st.lists(_OBJECT, max_size=3),
    timings=st.dictionaries(_TEXT, st.floats(allow_nan=False, allow_infinity=False)),
    policy=st.none() | _OBJECT,
)
def test_round_trip_equals_the_json_round_trip(
    txn_id: str,
    minutes: int,
    body_hash: str,
    txn: dict[str, Any],
    with_id: bool,
    with_time: bool,
    reasons: list[Any],
    timings: dict[str, float],
    policy: dict[str, Any] | None,
) -> None:
    at = T0 + timedelta(minutes=minutes, microseconds=minutes % 3)
    front: dict[str, Any] = {}
    if with_id:
        front["transaction_id"] = txn_id
        if with_time:
            front["timestamp"] = iso_time(at)
    transaction = {**front, **{k: v for k, v in txn.items() if k not in front}}
    got = unpack_record(
        pack(txn_id, at, body_hash, transaction, reasons, timings, policy), txn_id, at
    )
    assert got == UnpackedRecord(
        as_json(transaction), as_json(reasons), as_json(timings), as_json(policy), body_hash
    )
    # Key order too: a reader showing the transaction shows it as received.
    assert list(got.transaction) == list(transaction)


def test_a_typical_record_is_a_fraction_of_its_json() -> None:
    txn = {
        "transaction_id": "T0000031122",
        "timestamp": iso_time(T0),
        "amount": 24.56,
        "currency": "EUR",
        "payer_id": "P49531",
        "payee_id": "M00077",
        "device_id": "D37936",
        "channel": "wallet",
        "merchant_category": "retail",
        "payer_country": "FR",
        "payee_country": "DE",
        "extra": {"account_age_days": 461.0},
    }
    timings = {"features": 0.176, "model": 0.37, "reasons": 0.002, "policy": 0.031, "total": 0.7}
    policy = {"decided_by": "model", "action": "allow", "model_action": "allow", "matched": [],
              "tags": [], "lists": [], "rules_version": 0, "lists_version": 0}  # fmt: skip
    blob = pack("T0000031122", T0, HASH, txn, [], timings, policy)
    as_columns = sum(len(orjson.dumps(v)) for v in (txn, [], timings, policy)) + len(HASH)
    assert len(blob) * 4 < as_columns
    assert unpack_record(blob, "T0000031122", T0).transaction == txn


def test_the_left_out_id_and_time_come_from_the_row() -> None:
    txn = {"transaction_id": "a", "timestamp": iso_time(T0), "amount": 1.0}
    blob = pack("a", T0, HASH, txn, [], {}, None)
    later = T0 + timedelta(days=2)
    assert unpack_record(blob, "b", later).transaction == {
        "transaction_id": "b",
        "timestamp": iso_time(later),
        "amount": 1.0,
    }


def test_numpy_scalars_are_plain_values() -> None:
    blob = pack("a", T0, HASH, {"n": np.int64(3)}, [{"v": np.float32(0.5)}], {}, None)
    got = unpack_record(blob, "a", T0)
    assert (got.transaction, got.reasons) == ({"n": 3}, [{"v": 0.5}])


@pytest.mark.parametrize(
    "changes",
    [
        {"txn": {"transaction_id": "a", "note": "a\x00b"}},
        {"reasons": [{"sentence": "\x00"}]},
        {"policy": {"matched": [{"name": "r\x00"}]}},
        {"body_hash": "h\x00"},
    ],
)
def test_a_nul_anywhere_is_refused_as_the_api_refuses_it(changes: dict[str, Any]) -> None:
    args: dict[str, Any] = {"txn": {"transaction_id": "a"}, "reasons": [], "policy": None,
                            "body_hash": HASH} | changes  # fmt: skip
    with pytest.raises(RecordRefusedError, match="NUL"):
        pack("a", T0, args["body_hash"], args["txn"], args["reasons"], {}, args["policy"])


def test_what_is_no_json_is_refused() -> None:
    with pytest.raises(RecordRefusedError):
        pack("a", T0, HASH, {"x": object()}, [], {}, None)


@pytest.mark.parametrize("cut", [0, 1, 2, 20, 40, -1])
def test_a_damaged_record_is_a_store_error(cut: int) -> None:
    blob = pack("a", T0, HASH, {"transaction_id": "a", "amount": 1.0}, [], {"total": 1.0}, None)
    with pytest.raises(StoreError):
        unpack_record(blob[:cut], "a", T0)
    with pytest.raises(StoreError):
        unpack_record(b"\x09" + blob[1:], "a", T0)


@pytest.mark.parametrize("text", ["\\u0000", "C:\\\\u0000x", "\\\\\\u0000"])
def test_a_backslash_before_u0000_is_no_nul(text: str) -> None:
    txn = {"transaction_id": "a", "note": text}
    blob = pack("a", T0, HASH, txn, [], {}, None)
    assert unpack_record(blob, "a", T0).transaction == txn


@pytest.mark.parametrize("text", ["\\\x00", "\\\\\x00", "x\x00"])
def test_a_nul_after_backslashes_is_still_refused(text: str) -> None:
    with pytest.raises(RecordRefusedError, match="NUL"):
        pack("a", T0, HASH, {"note": text}, [], {}, None)
