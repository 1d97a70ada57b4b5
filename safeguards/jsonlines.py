"""The sidecar's JSON lines, in and out: orjson's speed where it agrees with :mod:`json`, json's rules where they part.

Parsing and printing are most of a sidecar's time per event after the engine
itself: orjson reads a bench event in 1.3 us against json's 4.5, and writes a
decision in 0.3 against 3.4. Where they disagree, json decides, as before:
anything orjson refuses (NaN, UTF-16 input, a lone surrogate...) is read again
by json, so the answer and its error message are json's, and so is anything
but a flat object, or one with a float orjson may have made of an int beyond
its 64-bit range; and output orjson cannot write, or writes with non-ASCII characters, is
written by json (ASCII-escaped). Output is compact (no spaces after ``,`` and
``:``), the same JSON either way, except that a NaN or an infinity (which no
decision or alert holds) comes out as ``null``, not as json's non-JSON ``NaN``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number an event may carry")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)  # built once: json.loads with an option builds one per call
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
_ORJSON_INTS, _ORJSON_INTS_END = -(2.0**63), 2.0**64  # the ints orjson reads as ints


def loads(raw: bytes) -> Any:
    """The value of one input line; ValueError (json's, worded by json) if it is not strict JSON."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        if type(value) is dict and _exact(value):
            return value
    try:
        return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except RecursionError:  # json recurses per level of nesting: an attacker's line must not end the sidecar
        raise ValueError("nested too deeply to be an event (an event is a flat object)") from None


def has_lone_surrogate(text: str) -> bool:
    """True if `text` holds half of a character (an escape such as ``\\ud800`` without its pair): not text UTF-8 can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogate_field(raw: bytes, event: dict[str, Any]) -> str | None:
    """The first field of `event` (read from `raw`) whose name or text holds a lone surrogate; None if none does.

    orjson refuses lone surrogates, so they come only from json's reading of an
    escape or of non-ASCII bytes: a line with neither is not looked into.
    """
    if b"\\u" not in raw and raw.isascii():
        return None
    for name, value in event.items():
        if _holds_lone_surrogate(name) or _holds_lone_surrogate(value):
            return name.encode("ascii", "backslashreplace").decode("ascii")
    return None


def lone_surrogate_reason(field: str) -> str:
    """Why a line whose `field` (as :func:`lone_surrogate_field` names it) holds a lone surrogate is no event."""
    return (f"field '{field}' holds an unpaired surrogate (an escape such as \\ud800 that is half of a character), "
            "which is not text: send the character itself")


def _holds_lone_surrogate(value: Any) -> bool:
    if type(value) is str:
        return has_lone_surrogate(value)
    if type(value) is dict:
        return any(_holds_lone_surrogate(key) or _holds_lone_surrogate(item) for key, item in value.items())
    if type(value) is list:
        return any(_holds_lone_surrogate(item) for item in value)
    return False


def _exact(event: dict[str, Any]) -> bool:
    """True if orjson surely read this flat object as json does: no float out of its int range, nothing nested.

    orjson reads an int beyond -2**63 .. 2**64 - 1 as a float (json keeps it exact);
    such a float may hide in a nested value too, so nested values are left to json.
    """
    for value in event.values():
        kind = type(value)
        if kind is float:
            if not _ORJSON_INTS <= value < _ORJSON_INTS_END:
                return False
        elif kind is dict or kind is list:
            return False
    return True


def dumps(value: Any) -> str:
    """One output line's text (no newline): ASCII, compact; odd objects written as their str."""
    try:
        data = orjson.dumps(value, default=str)
    except TypeError:  # an int beyond 64 bits, a lone surrogate...
        return _ENCODER.encode(value)
    return data.decode("ascii") if data.isascii() else _ENCODER.encode(value)
