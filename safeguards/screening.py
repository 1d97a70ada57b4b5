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

#: (reason, broker_ts ns or None, recv_ts ns or None): the reason is None for a valid event.
Checked = tuple["str | None", "int | None", "int | None"]

ABSENT, INTEGER, TEXT = 0, 1, 2  # how a timestamp field is present in a shape
_PLAN_LIMIT: Final = 4096  # shapes cached at most: odd inputs must not grow memory without bound
_NONE_TYPE: Final = type(None)


class _Plan(NamedTuple):
    """What remains to check for an event of one known shape (built once per shape)."""

    choices: tuple[tuple[str, tuple[str, ...]], ...]
    numbers: Callable[[dict], tuple] | None  # every number field, to check they are all finite
    has_float: bool  # ints are always finite
    quantities: Callable[[dict], tuple] | None  # quantity fields, to check none is negative
    broker_ts: int  # ABSENT, INTEGER or TEXT
    recv_ts: int
    hedge_needs_parent: bool  # an intent with no parent_id: valid unless its role is hedge


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
    choices, numbers, quantities = [], [], []
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
        elif not ((kind is INT and cls is int) or (kind is BOOL and cls is bool)):
            return None
    return _Plan(
        tuple(choices), _tuple_getter(numbers), has_float, _tuple_getter(quantities),
        stamps["broker_ts"], stamps["recv_ts"], type_ == "intent" and "parent_id" not in present,
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
    """``(validate_event(event), broker_ts, recv_ts)`` with the timestamps in ns; never raises."""
    if type(event) is dict:
        try:
            plan = _PLANS[(event["source"], event["type"], tuple(event), tuple(map(type, event.values())))]
        except (KeyError, TypeError):
            plan = _learn(event)
        if plan is not None:
            try:
                return _check_values(event, plan)
            except Exception:  # a value the fast check cannot vouch for (NaN, overflow, bad stamp): ask below
                pass
    reason = validate_event(event)
    if reason is not None:
        return reason, None, None
    broker_ts = event.get("broker_ts")
    return None, None if broker_ts is None else parse_timestamp(broker_ts), parse_timestamp(event["recv_ts"])


class _NotSure(Exception):
    """The fast check cannot vouch for this event; the full validation decides."""


def _check_values(event: dict, plan: _Plan) -> Checked:
    choices, numbers, has_float, quantities, broker_kind, recv_kind, hedge_needs_parent = plan
    for name, allowed in choices:
        if event[name] not in allowed:
            raise _NotSure
    if has_float:
        total = sum(numbers(event))  # type: ignore[misc]
        if total - total != 0.0:  # a NaN or an infinity somewhere (or an overflow: the full check tells)
            raise _NotSure
    if quantities is not None and min(quantities(event)) < 0:
        raise _NotSure
    if hedge_needs_parent and event.get("role") == "hedge":
        raise _NotSure
    stamp = event["recv_ts"]
    recv_ts = stamp if recv_kind == INTEGER else parse_timestamp(stamp)
    if broker_kind == ABSENT:
        return None, None, recv_ts
    stamp = event["broker_ts"]
    return None, stamp if broker_kind == INTEGER else parse_timestamp(stamp), recv_ts
