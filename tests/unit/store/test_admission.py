"""``store.admission.admit``: what no ledger can hold is refused naming its field, before any
engine learns it; everything else passes as the same canonical JSON the decider hashes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from frisk.errors import InvalidEventError
from frisk.store.admission import admit

BODY: dict[str, Any] = {
    "transaction_id": "t-1",
    "amount": 12.5,
    "payer_id": "p-1",
    "extra": {"note": "hello", "count": 3, "flag": True, "none": None},
}


def test_a_clean_body_is_its_sorted_json() -> None:
    assert admit(BODY) == orjson.dumps(BODY, option=orjson.OPT_SORT_KEYS)


@pytest.mark.parametrize(
    ("change", "field", "why"),
    [
        ({"transaction_id": "t\x00nul"}, "transaction_id", "NUL"),
        ({"payer_id": "\x00"}, "payer_id", "NUL"),
        ({"extra": {"note": "a\x00b"}}, "extra.note", "NUL"),
        ({"extra": {"list": ["ok", "x\x00"]}}, "extra.list[1]", "NUL"),
        ({"payer_id": "p\ud800"}, "payer_id", "lone surrogate"),
        ({"extra": {"note": "\udfff"}}, "extra.note", "lone surrogate"),
        ({"extra": {"big": 2**64}}, "extra.big", "beyond 64 bits"),
        ({"extra": {"big": -(2**63) - 1}}, "extra.big", "beyond 64 bits"),
        ({"extra": {"raw": b"bytes"}}, "extra.raw", "not a JSON value"),
        ({"extra": {"set": {1, 2}}}, "extra.set", "not a JSON value"),
        ({"extra": {1: "x"}}, "extra", "not text"),
    ],
)
def test_what_no_ledger_can_hold_is_refused_naming_the_field(
    change: dict[str, Any], field: str, why: str
) -> None:
    with pytest.raises(InvalidEventError, match=why) as refused:
        admit({**BODY, **change})
    assert refused.value.field == field


def test_the_64_bit_edges_are_admitted() -> None:
    admit({"low": -(2**63), "high": 2**64 - 1})


def test_a_backslash_before_u0000_is_text_not_a_nul() -> None:
    body = {"note": "C:\\u0000"}
    assert orjson.loads(admit(body)) == body


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_anything_json_holds_is_admitted_or_named(value: Any) -> None:
    body = {"extra": value}
    if _has_nul(value):
        with pytest.raises(InvalidEventError, match="NUL") as refused:
            admit(body)
        assert refused.value.field.startswith("extra")
    else:
        assert orjson.loads(admit(body)) == body


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
