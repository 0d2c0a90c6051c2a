"""The packed feature vector gives back exactly what the JSON record gave back."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from frisk.errors import StoreError
from frisk.store.feature_codec import pack, unpack

_VALUES = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e7, max_value=1e7).map(lambda x: round(x, 2)),
    st.integers(min_value=-(2**40), max_value=2**40).map(float),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what orjson writes
    st.booleans(),
    st.text(max_size=40),
)


def _as_json(values: list[Any]) -> list[Any]:
    """What the JSON record stored and read back (NaN and infinities become null)."""
    return list(orjson.loads(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)))


def _exact(values: list[Any]) -> list[tuple[type, Any]]:
    # Type and value, and the sign of zero, which == does not see.
    return [(type(v), (v, math.copysign(1.0, v)) if isinstance(v, float) else v) for v in values]


@given(st.lists(_VALUES, max_size=120))
def test_round_trip_equals_the_json_round_trip(values: list[Any]) -> None:
    assert _exact(unpack(pack(values), len(values))) == _exact(_as_json(values))


def test_each_form_is_the_narrowest_exact_one() -> None:
    # 1 format byte, 4 tag bytes (8 values); None and 0.0 take none, then int8, int16, float64,
    # and three in hundredths (int32): 1 + 2 + 8 + 3 * 4 bytes.
    values = [None, 0.0, 5.0, 300.0, 70000.0, 0.5, 1 / 3, 1660.47]
    blob = pack(values)
    assert len(blob) == 1 + 4 + 1 + 2 + 8 + 3 * 4
    assert unpack(blob, len(values)) == values


def test_negative_zero_keeps_its_sign() -> None:
    (back,) = unpack(pack([-0.0]), 1)
    assert math.copysign(1.0, back) == -1.0


def test_numpy_scalars_read_back_as_json_wrote_them() -> None:
    values = [np.float64(0.1), np.float32(0.1), np.int64(3), np.bool_(True)]
    assert _exact(unpack(pack(values), 4)) == _exact(_as_json(values))


def test_a_value_that_is_no_feature_value_is_refused_by_position() -> None:
    with pytest.raises(StoreError, match=r"feature value 1 \(\[1\]\)"):
        pack([1.0, [1]])


@pytest.mark.parametrize(
    ("blob", "n", "message"),
    [
        (b"", 1, "unknown format"),
        (b"\x07\x22", 2, "unknown format"),
        (b"\x01\x66", 2, "cut short"),  # two float64s announced, none there
        (b"\x01\x00\x00", 2, "does not match"),  # a byte too many
        (b"\x01\x70", 1, "ends inside"),  # a text without its length
    ],
)
def test_a_damaged_vector_is_an_error_not_wrong_values(blob: bytes, n: int, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        unpack(blob, n)
