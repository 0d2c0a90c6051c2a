"""A decision's feature values as a packed vector: ``pack(values)`` and ``unpack(blob, n)``.

The names are not in the vector: they are held once per catalogue (``feature_catalogues``) and
a decision keeps the catalogue's id. What comes back is exactly what the JSON record gave back:
floats as the same float64, ``None`` for a missing value (NaN and infinities included, which JSON
has no words for and were stored as ``null``), strings, ints and booleans as themselves.

Layout (little-endian), format 1::

    [1][one 4-bit tag per value, two per byte][int8s][int16s][int32s][float32s][float64s]
       [hundredths as int32s][texts]

A float is stored in the narrowest form that gives it back bit for bit: most features are counts,
flags or hours (one byte or none), sums of amounts are whole hundredths (four bytes: the int32 of
``round(x * 100)`` where ``that / 100 == x``), and only the ratios and deviations need eight.
Texts (categorical values, and ints, as their decimal digits) are a varint length and UTF-8 each,
in vector order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from frisk.errors import StoreError

__all__ = ["pack", "unpack"]

_FORMAT = 1

# Tags, one per value.
_NONE, _ZERO, _I8, _I16, _I32, _F32, _F64, _TEXT, _INT, _FALSE, _TRUE, _CENTS = range(12)
_TAGS = 12
# The fixed-width sections, in the order they follow the tags: (tag, dtype, bytes, scale).
_SECTIONS = (
    (_I8, "<i1", 1, 1.0),
    (_I16, "<i2", 2, 1.0),
    (_I32, "<i4", 4, 1.0),
    (_F32, "<f4", 4, 1.0),
    (_F64, "<f8", 8, 1.0),
    (_CENTS, "<i4", 4, 100.0),
)
_FLOATS = frozenset({float, type(None), np.float64})


def pack(values: Sequence[Any]) -> bytes:
    """The packed vector of ``values`` (floats, ``None``, strings, ints, booleans)."""
    n = len(values)
    texts: list[str] = []
    if _FLOATS.issuperset(map(type, values)):
        numbers = np.array(values, dtype=np.float64)  # None -> NaN
        tags = _number_tags(numbers)
    else:
        numbers = np.zeros(n, dtype=np.float64)
        tags = np.zeros(n, dtype=np.uint8)
        numeric = np.zeros(n, dtype=bool)
        for i, value in enumerate(values):
            value = _plain(value, i)
            kind = _classify(value)
            if kind is None:
                numeric[i] = True
                numbers[i] = value
            else:
                tags[i] = kind
                if kind in (_TEXT, _INT):
                    texts.append(str(value))
        tags[numeric] = _number_tags(numbers[numeric])
    if n % 2:
        tags = np.append(tags, np.uint8(_NONE))
    parts = [bytes((_FORMAT,)), ((tags[0::2] << 4) | tags[1::2]).astype(np.uint8).tobytes()]
    for tag, dtype, _size, scale in _SECTIONS:
        chosen = numbers[tags[:n] == tag]
        if chosen.size:
            parts.append(
                (np.round(chosen * scale) if scale != 1.0 else chosen).astype(dtype).tobytes()
            )
    for text in texts:
        raw = text.encode()
        parts.append(_varint(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def unpack(blob: bytes, n: int) -> list[Any]:
    """The ``n`` values ``pack`` packed into ``blob``; ``StoreError`` if it is not such a vector."""
    if not blob or blob[0] != _FORMAT:
        raise StoreError(f"a packed feature vector of unknown format {blob[:1]!r}")
    width = (n + 1) // 2
    try:
        packed = np.frombuffer(blob, dtype=np.uint8, count=width, offset=1)
        tags = np.empty(2 * width, dtype=np.uint8)
        tags[0::2] = packed >> 4
        tags[1::2] = packed & 0x0F
        tags = tags[:n]
        counts = np.bincount(tags, minlength=16)
        numbers = np.zeros(n, dtype=np.float64)
        at = 1 + width
        for tag, dtype, size, scale in _SECTIONS:
            count = int(counts[tag])
            if count:
                stored = np.frombuffer(blob, dtype=dtype, count=count, offset=at)
                numbers[tags == tag] = stored / scale if scale != 1.0 else stored
                at += count * size
    except ValueError as exc:  # a buffer shorter than its tags say
        raise StoreError(f"a packed feature vector of {n} values is cut short") from exc
    values: list[Any] = numbers.tolist()
    for i in np.flatnonzero(tags == _NONE).tolist():
        values[i] = None
    if counts[_TEXT] or counts[_INT] or counts[_FALSE] or counts[_TRUE]:
        special = (_TEXT, _INT, _FALSE, _TRUE)
        for i in np.flatnonzero(np.isin(tags, special)).tolist():
            tag = int(tags[i])
            if tag in (_FALSE, _TRUE):
                values[i] = tag == _TRUE
                continue
            length, at = _read_varint(blob, at)
            text = bytes(blob[at : at + length]).decode()
            at += length
            values[i] = text if tag == _TEXT else int(text)
    if at != len(blob) or counts[_TAGS:].any():
        raise StoreError(f"a packed feature vector of {n} values does not match its tags")
    return values


def _number_tags(numbers: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, Any]:
    """The narrowest exact form of each float; ``_NONE`` for NaN and infinities."""
    tags = np.full(numbers.shape, _F64, dtype=np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):
        cents = np.round(numbers * 100.0)
        tags[(cents / 100.0 == numbers) & (np.abs(cents) < 2**31)] = _CENTS
        tags[numbers.astype(np.float32).astype(np.float64) == numbers] = _F32
        # -0.0 is integral but no int gives it back: it stays a float.
        integral = (np.trunc(numbers) == numbers) & ~((numbers == 0) & np.signbit(numbers))
        tags[integral & (numbers >= -(2**31)) & (numbers < 2**31)] = _I32
        tags[integral & (numbers >= -(2**15)) & (numbers < 2**15)] = _I16
        tags[integral & (numbers >= -(2**7)) & (numbers < 2**7)] = _I8
        tags[integral & (numbers == 0)] = _ZERO
        tags[~np.isfinite(numbers)] = _NONE
    return tags


def _plain(value: Any, index: int) -> Any:
    """``value`` as a Python scalar (numpy's give their own), or ``StoreError``."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.float32 | np.float16):
        # As JSON wrote it: the shortest decimal that gives the narrow float back.
        return float(str(value))
    item = getattr(value, "item", None)  # a numpy scalar
    plain = item() if callable(item) else value
    if plain is None or isinstance(plain, (bool, int, float, str)):
        return plain
    raise StoreError(f"feature value {index} ({value!r}) is not a number, string, boolean or None")


def _classify(value: Any) -> int | None:
    """The tag of a value that is not a float (None for a float, tagged later)."""
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, float):
        return None
    if isinstance(value, int):
        return _INT
    return _TEXT


def _varint(number: int) -> bytes:
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _read_varint(blob: bytes, at: int) -> tuple[int, int]:
    number = shift = 0
    while True:
        if at >= len(blob):
            raise StoreError("a packed feature vector ends inside a text's length")
        byte = blob[at]
        at += 1
        number |= (byte & 0x7F) << shift
        if byte < 0x80:
            return number, at
        shift += 7
