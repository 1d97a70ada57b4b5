"""The engine's event check: :func:`~.events.validate_event` at a fraction of the cost, plus parsed timestamps.

A live stream repeats a handful of *shapes* (the same field names in the same
order). For each shape seen, a small straight-line checker is generated once:
one type test per canonical field present, plus the value tests that field
needs (choice, finite, non-negative, 64-bit range, timestamp parse). CPython
runs such code far faster than a loop that looks each field's kind up. A
checker only vouches for an event it is sure of (a ``None`` value, a NaN, a
bad timestamp... it leaves to :func:`~.events.validate_event`), so every
reason is worded exactly as there. Each timestamp is parsed once, here.

Only canonical field names (the keys of :data:`~.events.FIELDS`) ever appear in
generated code; unknown fields are skipped, as the validator skips them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .events import (BOOL, CHOICES, FIELDS, INT, INT64_MAX, INT64_MIN, NUM, QUANTITY_FIELDS, REQUIRED, STR, TS,
                     parse_timestamp, validate_event)

#: (reason, broker_ts ns or None, recv_ts ns or None, fields or None): the reason is None
#: for a valid event; ``fields`` names its canonical fields that are present and not None,
#: in canonical order, when its shape is known (None otherwise).
Checked = tuple["str | None", "int | None", "int | None", "tuple[str, ...] | None"]
Checker = Callable[[dict], "Checked | None"]

_CHECKER_LIMIT: Final = 4096  # shapes cached at most: odd inputs must not grow memory without bound
_STAMP_VARIABLES: Final = {"broker_ts": "broker_ts", "recv_ts": "recv_ts"}


def _field_lines(name: str) -> list[str]:
    """The checks of one canonical field, as lines of Python; ``return None`` means "not sure"."""
    kind, lines = FIELDS[name], [f"    v = event[{name!r}]"]
    if kind is STR:
        lines.append("    if type(v) is not str: return None")
        if name in ("source", "type"):  # kept for the (source, type) check below
            lines.append(f"    v_{name} = v")
        if name in CHOICES:
            lines.append(f"    if v not in {CHOICES[name]!r}: return None")
    elif kind is NUM:
        lines += [
            "    if type(v) is float:",
            "        if v - v != 0.0: return None",  # NaN or infinite
            "    elif type(v) is not int: return None",
        ]
        if name in QUANTITY_FIELDS:
            lines.append("    if v < 0: return None")
    elif kind is INT:
        lines.append("    if type(v) is not int or not INT64_MIN <= v <= INT64_MAX: return None")
    elif kind is TS:
        lines += [
            "    if type(v) is str: v = parse_timestamp(v)",  # raises if malformed: the caller then asks validate_event
            "    elif type(v) is not int: return None",
            "    if not INT64_MIN <= v <= INT64_MAX: return None",
            f"    {_STAMP_VARIABLES[name]} = v",
        ]
    elif kind is BOOL:
        lines.append("    if type(v) is not bool: return None")
    else:  # a kind added to FIELDS that this module does not know: never vouch
        lines.append("    return None")
    return lines


def _make_checker(keys: tuple) -> Checker:
    """Generate the checker of events with exactly these keys, in this order."""
    present = [key for key in keys if key in FIELDS]
    lines = ["def check(event):", "    broker_ts = None"]
    if any(type(key) is not str for key in present):  # a str subclass posing as a field name: never vouch
        present, lines = [], ["def check(event):", "    return None"]
    for name in present:
        lines += _field_lines(name)
    # (source, type) pairs whose required fields all appear in this shape (None values were refused above).
    pairs = frozenset(pair for pair, required in REQUIRED.items() if set(required) <= set(present))
    # source and type were just read and checked as str when the shape has them (else None: no pair matches)
    pair = ", ".join(f"v_{name}" if name in present else "None" for name in ("source", "type"))
    lines.append(f"    if ({pair}) not in PAIRS: return None")
    if "parent_id" not in present and "role" in present:  # a hedge intent needs a parent (no role: not a hedge)
        lines.append(f"    if {'v_type' if 'type' in present else 'None'} == 'intent' and event['role'] == 'hedge': return None")
    lines.append("    return None, broker_ts, recv_ts, FIELDS_PRESENT")
    if "recv_ts" not in present:  # required for every event: such a shape is never valid
        lines = ["def check(event):", "    return None"]
    namespace: dict[str, Any] = {
        "INT64_MIN": INT64_MIN, "INT64_MAX": INT64_MAX, "parse_timestamp": parse_timestamp, "PAIRS": pairs,
        "FIELDS_PRESENT": tuple(name for name in FIELDS if name in present),
    }
    exec(compile("\n".join(lines), f"<event check for {len(present)} fields>", "exec"), namespace)  # noqa: S102
    return namespace["check"]


_CHECKERS: dict[tuple, Checker] = {}


def check_event(event: Any) -> Checked:
    """``(validate_event(event), broker_ts, recv_ts, fields)`` with the timestamps in ns; never raises."""
    if type(event) is dict:
        keys = tuple(event)
        checker = _CHECKERS.get(keys)
        if checker is None:
            checker = _make_checker(keys)
            if len(_CHECKERS) < _CHECKER_LIMIT:
                _CHECKERS[keys] = checker
        try:
            checked = checker(event)
        except Exception:  # e.g. a malformed timestamp or an overflow: the full check words it
            checked = None
        if checked is not None:
            return checked
    reason = validate_event(event)
    if reason is not None:
        return reason, None, None, None
    broker_ts = event.get("broker_ts")
    return None, None if broker_ts is None else parse_timestamp(broker_ts), parse_timestamp(event["recv_ts"]), None
