"""The engine's event check: :func:`~.events.validate_event` at a fraction of the cost, plus parsed timestamps.

A live stream repeats a handful of *shapes*: the same source and type, the same
field names, the same value types. What a shape allows is worked out once and
cached as a :class:`_Plan`; an event of a known good shape then only needs the
checks that depend on its values (choices, finite and non-negative numbers,
the hedge's parent, timestamp strings). Whenever the fast check is not sure, it
asks :func:`~.events.validate_event`, so reasons are worded exactly as there.
Each timestamp is parsed once, here, and handed to the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any, Final, NamedTuple

from .events import BOOL, CHOICES, FIELDS, INT, NUM, QUANTITY_FIELDS, REQUIRED, STR, TS, parse_timestamp, validate_event

#: (reason, broker_ts ns or None, recv_ts ns or None, fields or None): the reason is None
#: for a valid event; ``fields`` names its canonical fields that are present and not None,
#: in canonical order, when its shape is known (None otherwise).
Checked = tuple["str | None", "int | None", "int | None", "tuple[str, ...] | None"]

ABSENT, INTEGER, TEXT = 0, 1, 2  # how a timestamp field is present in a shape
_PLAN_LIMIT: Final = 4096  # shapes cached at most: odd inputs must not grow memory without bound
_NONE_TYPE: Final = type(None)
INT64_MIN: Final = -(1 << 63)  # integers and timestamps must fit 64 bits (the store's BIGINT), as validate_event says
INT64_MAX: Final = (1 << 63) - 1


class _Plan(NamedTuple):
    """What remains to check for an event of one known shape (built once per shape)."""

    choices: tuple[tuple[str, tuple[str, ...]], ...]
    numbers: Callable[[dict], tuple] | None  # every number field, to check they are all finite
    has_float: bool  # ints are always finite
    quantities: Callable[[dict], tuple] | None  # quantity fields, to check none is negative
    integers: Callable[[dict], tuple] | None  # integer and integer-timestamp fields: must fit 64 bits
    broker_ts: int  # ABSENT, INTEGER or TEXT
    recv_ts: int
    hedge_needs_parent: bool  # an intent with no parent_id: valid unless its role is hedge
    fields: tuple[str, ...]  # canonical fields present and not None, in canonical order


def _tuple_getter(names: list[str]) -> Callable[[dict], tuple] | None:
    if not names:
        return None
    if len(names) == 1:
        name = names[0]
        return lambda event: (event[name],)
    return itemgetter(*names)  # returns a tuple for two names or more


def _plan_for(source: Any, type_: Any, names: tuple, kinds: tuple) -> _Plan | None:
    """The plan for a shape, or None if the shape alone does not show the event is valid."""
    required = REQUIRED.get((source, type_))
    if required is None:
        return None
    present = {name for name, cls in zip(names, kinds) if cls is not _NONE_TYPE}
    if not present.issuperset(required):
        return None
    choices, numbers, quantities, integers = [], [], [], []
    has_float = False
    stamps = {"broker_ts": ABSENT, "recv_ts": ABSENT}
    for name, cls in zip(names, kinds):
        kind = FIELDS.get(name)
        if kind is None or cls is _NONE_TYPE:
            continue
        if kind is STR and cls is str:
            if name in CHOICES:
                choices.append((name, CHOICES[name]))
        elif kind is NUM and (cls is int or cls is float):
            numbers.append(name)
            has_float = has_float or cls is float
            if name in QUANTITY_FIELDS:
                quantities.append(name)
        elif kind is TS and (cls is int or cls is str):
            stamps[name] = INTEGER if cls is int else TEXT
            if cls is int:
                integers.append(name)
        elif kind is INT and cls is int:
            integers.append(name)
        elif not (kind is BOOL and cls is bool):
            return None
    return _Plan(
        tuple(choices), _tuple_getter(numbers), has_float, _tuple_getter(quantities), _tuple_getter(integers),
        stamps["broker_ts"], stamps["recv_ts"], type_ == "intent" and "parent_id" not in present,
        tuple(name for name in FIELDS if name in present),
    )


_PLANS: dict[tuple, _Plan | None] = {}


def _learn(event: dict) -> _Plan | None:
    try:
        key = (event.get("source"), event.get("type"), tuple(event), tuple(map(type, event.values())))
        plan = _PLANS.get(key, False)
    except TypeError:  # an unhashable source or type: certainly invalid
        return None
    if plan is False:
        plan = _plan_for(*key)
        if len(_PLANS) < _PLAN_LIMIT:
            _PLANS[key] = plan
    return plan  # type: ignore[return-value]


def check_event(event: Any) -> Checked:
    """``(validate_event(event), broker_ts, recv_ts, fields)`` with the timestamps in ns; never raises."""
    if type(event) is dict:
        try:
            plan = _PLANS[(event["source"], event["type"], tuple(event), tuple(map(type, event.values())))]
        except (KeyError, TypeError):
            plan = _learn(event)
        if plan is not None:
            choices, numbers, has_float, quantities, integers, broker_kind, recv_kind, hedge_needs_parent, fields = plan
            try:  # any doubt (a NaN, a negative quantity, a bad stamp...) raises: the full check below decides
                for name, allowed in choices:
                    if event[name] not in allowed:
                        raise _NotSure
                if has_float:
                    total = sum(numbers(event))  # type: ignore[misc]
                    if total - total != 0.0:  # a NaN or an infinity somewhere (or an overflow)
                        raise _NotSure
                if quantities is not None and min(quantities(event)) < 0:
                    raise _NotSure
                if integers is not None:
                    values = integers(event)
                    if min(values) < INT64_MIN or max(values) > INT64_MAX:
                        raise _NotSure
                if hedge_needs_parent and event.get("role") == "hedge":
                    raise _NotSure
                stamp = event["recv_ts"]
                recv_ts = stamp if recv_kind == INTEGER else _parse_in_range(stamp)
                if broker_kind == ABSENT:
                    return None, None, recv_ts, fields
                stamp = event["broker_ts"]
                return None, stamp if broker_kind == INTEGER else _parse_in_range(stamp), recv_ts, fields
            except Exception:
                pass
    reason = validate_event(event)
    if reason is not None:
        return reason, None, None, None
    broker_ts = event.get("broker_ts")
    return None, None if broker_ts is None else parse_timestamp(broker_ts), parse_timestamp(event["recv_ts"]), None


class _NotSure(Exception):
    """The fast check cannot vouch for this event; the full validation decides."""


def _parse_in_range(stamp: str) -> int:
    nanos = parse_timestamp(stamp)
    if not INT64_MIN <= nanos <= INT64_MAX:
        raise _NotSure
    return nanos
