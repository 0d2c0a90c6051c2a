"""A state record crosses the wire exactly: integers of any size come back as the same integers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from frisk.features.entity import Log, decode_label, encode_label

_INTS = st.integers(min_value=-(2**80), max_value=2**80)


def _record(at: int, entries: list[int], windows: list[int]) -> list[object]:
    log = Log(0)
    log.entries, log.windows = entries, windows
    return [at, [log]]


@given(at=_INTS, entries=st.lists(_INTS, max_size=12), windows=st.lists(_INTS, max_size=8))
def test_a_label_record_round_trips_exactly(
    at: int, entries: list[int], windows: list[int]
) -> None:
    back = decode_label(encode_label(_record(at, entries, windows)))
    assert back[0] == at
    assert type(back[0]) is int
    assert back[1][0].entries == entries
    assert back[1][0].windows == windows
    assert all(type(v) is int for v in [*back[1][0].entries, *back[1][0].windows])


def test_a_sum_of_squared_cents_beyond_64_bits_is_not_read_as_a_float() -> None:
    wide = (10**9) ** 2 * 40  # forty payments of ten million in cents, squared: past 2**63
    blob = encode_label(_record(1, [5, 40, 10**9 * 40, wide], [0, 40, 0, wide]))
    back = decode_label(blob)
    assert back[1][0].entries[3] == wide
    assert type(back[1][0].entries[3]) is int
    assert decode_label(blob.decode())[1][0].windows[3] == wide


def test_an_ordinary_record_is_plain_json() -> None:
    assert encode_label(_record(7, [1, 2, 3, 4], [0, 1, 2, 3])) == b"[7,[[[1,2,3,4],[0,1,2,3]]]]"
