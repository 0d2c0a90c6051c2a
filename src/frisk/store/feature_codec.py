"""A decision's feature values as a packed vector: ``pack(values)`` and ``unpack(blob, n)``.

The names are not in the vector: they are held once per catalogue (``feature_catalogues``) and
a decision keeps the catalogue's id. What comes back is exactly what the JSON record gave back:
floats as the same float64, ``None`` for a missing value (NaN and infinities included, which JSON
has no words for and were stored as ``null``), strings, ints and booleans as themselves.

Layout (little-endian), format 1::

    [1][one 4-bit tag per value, two per byte][int8s][int16s][int32s][float32s][float64s]
       [hundredths as int32s][texts]

A float is stored in a narrow form that gives it back bit for bit: most features are counts, flags
or hours (no byte for a zero, one for an int8, two for an int16), sums of amounts and larger
integers are whole hundredths (four bytes: the int32 of ``round(x * 100)`` where
``that / 100 == x``), and only ratios, deviations and times need eight. (-0.0 goes as float32;
the decoder reads int32 too.)
Texts (categorical values, and ints, as their decimal digits) are a varint length and UTF-8 each,
in vector order.
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np  # numpy scalars among the values

from frisk.errors import StoreError

__all__ = ["pack", "unpack"]

_FORMAT = 1

# Tags, one per value.
_NONE, _ZERO, _I8, _I16, _I32, _F32, _F64, _TEXT, _INT, _FALSE, _TRUE, _CENTS = range(12)
_TAGS = 12
# The fixed-width sections, in the order they follow the tags: (tag, struct code, bytes).
_SECTIONS = ((_I8, "b", 1), (_I16, "h", 2), (_I32, "i", 4), (_F32, "f", 4), (_F64, "d", 8),
             (_CENTS, "i", 4))  # fmt: skip
_CENTS_MAX = 2**31 - 1
_INT_AS_CENTS = _CENTS_MAX / 100.0
_HIGH = [tag << 4 for tag in range(16)]
# A tag byte -> its two tags.
_PAIRS = [(b >> 4, b & 0x0F) for b in range(256)]


def pack(values: Sequence[Any]) -> bytes:
    """The packed vector of ``values`` (floats, ``None``, strings, ints, booleans).

    One pass in plain Python: at ~90 values it is as fast as ``orjson.dumps`` of the mapping,
    where whole-array numpy steps cost ~1 µs each and need a score of them.
    """
    tags: list[int] = []
    tag = tags.append
    i8: list[int] = []
    i16: list[int] = []
    f32: list[float] = []
    f64: list[float] = []
    cents: list[int] = []
    texts: list[str] = []
    for v in values:
        if type(v) is float:
            if v.is_integer():  # False for NaN and the infinities
                if -128.0 <= v < 128.0:
                    if v != 0.0:
                        tag(_I8)
                        i8.append(int(v))
                    elif math.copysign(1.0, v) > 0:
                        tag(_ZERO)
                    else:  # -0.0: no int gives its sign back
                        tag(_F32)
                        f32.append(v)
                elif -32768.0 <= v < 32768.0:
                    tag(_I16)
                    i16.append(int(v))
                elif -_INT_AS_CENTS <= v <= _INT_AS_CENTS:
                    tag(_CENTS)
                    cents.append(int(v) * 100)
                else:
                    tag(_F64)
                    f64.append(v)
            elif v - v == 0.0:  # finite
                hundredths = round(v * 100.0)
                if hundredths / 100.0 == v and -_CENTS_MAX <= hundredths <= _CENTS_MAX:
                    tag(_CENTS)
                    cents.append(hundredths)
                else:
                    tag(_F64)
                    f64.append(v)
            else:  # NaN or an infinity: JSON's null
                tag(_NONE)
        elif v is None:
            tag(_NONE)
        elif type(v) is str:
            tag(_TEXT)
            texts.append(v)
        elif type(v) is bool:
            tag(_TRUE if v else _FALSE)
        elif type(v) is int:
            tag(_INT)
            texts.append(str(v))
        else:  # numpy's scalars, or what is no feature value (StoreError)
            return pack([_plain(x, i) for i, x in enumerate(values)])
    if len(tags) % 2:
        tags.append(_NONE)
    parts = [
        bytes((_FORMAT,)),
        bytes(map(operator.or_, map(_HIGH.__getitem__, tags[0::2]), tags[1::2])),
    ]
    for code, section in (("b", i8), ("h", i16), ("f", f32), ("d", f64), ("i", cents)):
        if section:
            parts.append(struct.pack(f"<{len(section)}{code}", *section))
    for text in texts:
        raw = text.encode()
        parts.append(_varint(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def unpack(blob: bytes, n: int) -> list[Any]:
    """The ``n`` values ``pack`` packed into ``blob``; ``StoreError`` if it is not such a vector."""
    if not blob or blob[0] != _FORMAT:
        raise StoreError(f"a packed feature vector of unknown format {bytes(blob[:1])!r}")
    width = (n + 1) // 2
    if len(blob) < 1 + width:
        raise StoreError(f"a packed feature vector of {n} values is cut short")
    tags = list(chain.from_iterable(map(_PAIRS.__getitem__, blob[1 : 1 + width])))[:n]
    at = 1 + width
    sections: dict[int, Iterator[Any]] = {}
    try:
        for tag, code, size in _SECTIONS:
            count = tags.count(tag)
            if count:
                stored = struct.unpack_from(f"<{count}{code}", blob, at)
                at += count * size
                if tag == _CENTS:
                    sections[tag] = iter([c / 100.0 for c in stored])
                elif code in "bhi":
                    sections[tag] = iter([float(x) for x in stored])
                else:
                    sections[tag] = iter(stored)
    except struct.error as exc:  # a buffer shorter than its tags say
        raise StoreError(f"a packed feature vector of {n} values is cut short") from exc
    texts: list[Any] = []
    for tag in tags:
        if tag in (_TEXT, _INT):
            length, at = _read_varint(blob, at)
            text = bytes(blob[at : at + length]).decode()
            at += length
            texts.append(text if tag == _TEXT else int(text))
    if at != len(blob) or max(tags, default=0) >= _TAGS:
        raise StoreError(f"a packed feature vector of {n} values does not match its tags")
    nexts: list[Callable[[], Any]] = [repeat(None).__next__] * _TAGS
    nexts[_ZERO] = repeat(0.0).__next__
    nexts[_FALSE] = repeat(False).__next__
    nexts[_TRUE] = repeat(True).__next__
    rest = iter(texts).__next__
    nexts[_TEXT] = nexts[_INT] = rest
    for tag, section in sections.items():
        nexts[tag] = section.__next__
    return [nexts[tag]() for tag in tags]


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
