"""What every ledger can hold: a body is admitted before the engine learns it, or refused.

The decider serialises each body once (for its hash) and asks here first, so a body a ledger
would refuse at commit time is refused before feature state counts it, on every back end alike:

- no NUL character anywhere (PostgreSQL text and ``jsonb`` cannot hold one; SQLite can, so
  without this the two back ends disagreed), and in a group commit one such record made the
  commit of every other request in it fail after their features had been learnt;
- no lone surrogate (no UTF-8 encodes one);
- integers within 64 bits, and only JSON types (str, int, float, bool, None, lists, str-keyed
  mappings).

Validation at the edges (``frisk.schema``) already refuses all of these; this is the store's own
floor for callers that build transactions in code (a stream consumer, ``model_copy``), which
pydantic does not check again. The common case costs one substring search of the serialised body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from frisk.errors import InvalidEventError

__all__ = ["admit"]

_OPTIONS: Final = orjson.OPT_SORT_KEYS
_NUL: Final = b"\\u0000"  # how orjson writes a NUL inside a string
_BACKSLASH: Final = ord("\\")  # an int: ``in`` searches bytes for it with memchr
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1  # orjson writes unsigned 64-bit integers too


def admit(body: Mapping[str, Any]) -> bytes:
    """``body`` as canonical JSON (sorted keys), or ``InvalidEventError`` naming the field."""
    try:
        data = orjson.dumps(body, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: a surrogate, a huge int, a foreign type
        data = b""
    else:
        # Most bodies hold no backslash at all: one byte search (memchr) clears them.
        if _BACKSLASH not in data or _NUL not in data:
            return data
    found = _problem(body, "")
    if found is not None:
        field, value, reason = found
        raise InvalidEventError(field or "body", value, reason)
    if data:  # a text holding a backslash and "u0000": no NUL after all
        return data
    raise InvalidEventError("body", None, "cannot be written as JSON")


def _problem(value: Any, path: str) -> tuple[str, object, str] | None:
    """The first value under ``value`` that no ledger can hold: (field, value, why)."""
    if value is None or isinstance(value, bool | float):
        return None
    if isinstance(value, str):
        return _text_problem(value, path)
    if isinstance(value, int):
        if _INT_MIN <= value <= _INT_MAX:
            return None
        return path, value, "is an integer beyond 64 bits"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return path, key, "has a name that is not text"
            name = f"{path}.{key}" if path else key
            found = _text_problem(key, name) or _problem(item, name)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _problem(item, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return path, type(value).__name__, "is not a JSON value (text, number, boolean or null)"


def _text_problem(value: str, path: str) -> tuple[str, object, str] | None:
    if "\x00" in value:
        return path, value, "must not contain NUL (U+0000): no ledger can store it"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return path, value, f"holds a lone surrogate (U+{ord(value[exc.start]):04X})"
    return None
