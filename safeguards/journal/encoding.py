"""JSON text of event dicts for the journal, faster than ``json``'s C encoder on flat events.

The dict API journals every event by encoding it, and ``json.dumps`` spent
~5 µs on a ten-field event, most of the journal's cost per event. An event
stream has a handful of shapes (the same keys in the same order per event
type), so for each shape one small function is generated, once, that writes
the keys as constants and only converts the values: strings through ``json``'s
own C escaper, ints by ``repr``, floats by ``repr`` (remembered: prices repeat;
NaN and infinities refused, as ``allow_nan=False`` did). Values of other types
(lists, nested objects, subclasses) go through the ``json`` encoder, so the
output is always strict JSON that ``json.loads`` reads back to an equal dict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.encoder import encode_basestring  # the C escaper `json` uses with ensure_ascii=False
from typing import Any

_GENERIC = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-.]+")  # keys written verbatim into generated source: nothing to escape
_SHAPE_LIMIT = 1024  # shapes remembered at most (a live stream has a handful)
_FLOAT_LIMIT = 1 << 16  # float texts remembered at most

Encoder = Callable[[dict[str, Any]], str]
_shapes: dict[tuple[Any, ...], Encoder] = {}
_floats: dict[float, str] = {}


def _float(value: float) -> str:
    text = _floats.get(value)
    if text is None:
        text = float.__repr__(value)
        if text[-1] in "nf":  # nan, inf, -inf: every finite repr ends in a digit
            raise ValueError(f"Out of range float values are not JSON compliant: {text}")
        if value:  # 0.0 == -0.0 as keys: never remember a zero, its sign matters
            if len(_floats) >= _FLOAT_LIMIT:
                _floats.clear()
            _floats[value] = text
    return text


_CONVERT: dict[type, Callable[[Any], str]] = {
    str: encode_basestring,
    int: int.__repr__,
    float: _float,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}


def prefix(record: dict[str, Any]) -> str:
    """The JSON text of a non-empty dict without its closing brace (the seal is appended there)."""
    keys = tuple(record)
    encoder = _shapes.get(keys)
    if encoder is None:
        encoder = _encoder_for(keys, record)
    return encoder(record)


def _generic_prefix(record: dict[str, Any]) -> str:
    return _GENERIC(record)[:-1]


def _encoder_for(keys: tuple[Any, ...], record: dict[str, Any]) -> Encoder:
    if not keys:
        raise ValueError("a journal record is a non-empty JSON object")
    if all(type(key) is str and _PLAIN_KEY.fullmatch(key) for key in keys):
        encoder = _generate(keys, tuple(map(type, record.values())))
    else:  # keys needing escapes, or not strings: rare; the json encoder handles them
        encoder = _generic_prefix
    if len(_shapes) >= _SHAPE_LIMIT:
        _shapes.clear()
    _shapes[keys] = encoder
    return encoder


def _any(value: Any) -> str:
    return (_CONVERT.get(type(value)) or _GENERIC)(value)


def _generate(keys: tuple[str, ...], types: tuple[type, ...]) -> Encoder:
    """An encoder for dicts with these keys, fastest when the values have the types of the first one seen.

    ``def encode(record): v0, v1, ... = record.values(); return f'{{"k0":{_str(v0)},"k1":{...}'``:
    a slot first seen with a string calls the C escaper directly (it raises TypeError on
    anything else, and the record is then encoded slot by slot with a type check each);
    int and float slots check the exact type (a bool is an int, and must not print as one).
    """
    names = [f"v{i}" for i in range(len(keys))]
    fast, careful = [], []
    for key, name, kind in zip(keys, names, types):
        if kind is str:
            fast.append(f'"{key}":{{_str({name})}}')
        elif kind is int:
            fast.append(f'"{key}":{{_int({name}) if type({name}) is int else _any({name})}}')
        elif kind is float:
            fast.append(f'"{key}":{{_float({name}) if type({name}) is float else _any({name})}}')
        else:
            fast.append(f'"{key}":{{_any({name})}}')
        careful.append(f'"{key}":{{_any({name})}}')
    source = (f"def encode(record, _str=_str, _int=_int, _float=_float, _any=_any):\n"
              f"    {', '.join(names)}, = record.values()\n"
              f"    try:\n"
              f"        return f'{{{{{','.join(fast)}'\n"
              f"    except TypeError:  # a string slot holding something else this time\n"
              f"        return f'{{{{{','.join(careful)}'\n")
    namespace: dict[str, Any] = {"_str": encode_basestring, "_int": int.__repr__, "_float": _float, "_any": _any}
    exec(compile(source, f"<journal encoder for {len(keys)} keys>", "exec"), namespace)
    return namespace["encode"]
