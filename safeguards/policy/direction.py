"""Whether a change makes a policy stricter or more permissive: what a reviewer (and CI) must know first.

A risk committee reads a diff for the loosened limits and weakened gates; every
change of meaning is judged here, by what it does to the desk, not by its sign.
A change this module cannot rank (a renamed rule, a description) is neutral.
"""

from __future__ import annotations

import enum
import math
import re
from typing import TYPE_CHECKING, Any

from .durations import Span

if TYPE_CHECKING:
    from .diff import Change


class Direction(enum.Enum):
    TIGHTENING = "tightening"
    LOOSENING = "loosening"
    NEUTRAL = "neutral"


_SEVERITY = {"info": 0, "warning": 1, "critical": 2}
#: For enumerated settings: a higher rank is stricter.
_RANKS: dict[str, dict[str, int]] = {
    "severities.*": _SEVERITY,
    "ordering.on_violation.severity": _SEVERITY,
    "ordering.on_violation.severity_after_terminal": _SEVERITY,
    "ordering.late_fills.severity": _SEVERITY,
    "ordering.on_violation.action": {"apply": 0, "reject": 1},
    "intents.recovery.unknown_broker_orders": {"adopt": 0, "alert": 1, "cancel": 2},
    "intents.recovery.quantity_mismatch": {"adopt_broker": 0, "alert": 1},
    "escalation[].to": {"reducing": 0, "halted": 1},
    "escalation[].scope": {"group": 0, "session": 1, "all": 2},
    # The lowest severity that escalates: a higher one escalates less, none escalates on every alert.
    "escalation[].min_severity": {"critical": 0, "warning": 1, "info": 2, None: 3},  # type: ignore[dict-item]
}
#: Limits where a larger value lets more through; None (no limit) is the largest.
_LARGER_IS_LOOSER = {
    "clock.future_tolerance", "clock.max_skew", "clock.timeouts.*", "hedging.max_depth",
    "hedging.max_attempts_per_group", "hedging.max_unhedged", "hedging.quote_max_age",
    "hedging.liquidity_fraction", "promotion.gates[].at_most",
}
#: Settings where a larger value catches more; for clear_after, None (never clears by itself) is the largest.
_LARGER_IS_TIGHTER = {"idempotency.window", "idempotency.max_keys", "escalation[].clear_after"}
_NONE_IS_SMALLEST = {"promotion.gates[].at_least"}
_TRUE_IS_TIGHTER = {"intents.required_before_submit", "ordering.check_sequence_gaps", "promotion.gates[].per_fault_kind"}
_TRUE_IS_LOOSER = {"escalation[].after_terminal"}  # escalating only after a terminal state escalates less
#: Lists of names: adding a member tightens (True) or loosens (False).
_MEMBER_TIGHTENS = {
    "escalation[].alerts": True,
    "idempotency.key": False,  # more fields in the key: fewer events are the same event
    "idempotency.ignore_fields": False,  # fields not compared: fewer conflicting duplicates seen
}
#: A rule that exists: adding one tightens.
_RULES = {"escalation[]", "promotion.gates[]"}
#: A gate that measures something else is a different bar, not a higher one: a reviewer must look.
_REPLACED_BAR = {"promotion.gates[].metric", "promotion.gates[].dataset"}


def judge(change: Change) -> Direction:
    """The direction of one change."""
    where = re.sub(r"\[[^\]]*\]", "[]", change.where)
    old, new = change.old, change.new
    if where.startswith("ordering.transitions "):
        if old is None:
            return Direction.LOOSENING  # a transition allowed that was refused
        if new is None:
            return Direction.TIGHTENING
        return Direction.NEUTRAL
    if where in _RULES:
        return Direction.TIGHTENING if old is None else Direction.LOOSENING if new is None else Direction.NEUTRAL
    if where in _MEMBER_TIGHTENS:
        added = old is None
        return Direction.TIGHTENING if added == _MEMBER_TIGHTENS[where] else Direction.LOOSENING
    if where in _REPLACED_BAR:
        return Direction.LOOSENING
    family = re.sub(r"^(severities|clock\.timeouts)\..*$", r"\1.*", where)
    if family in _RANKS:
        ranks = _RANKS[family]
        if old in ranks and new in ranks:
            return _compare(ranks[new], ranks[old])
        return Direction.NEUTRAL
    if family in _LARGER_IS_LOOSER:
        return _compare(_size(old, none=math.inf), _size(new, none=math.inf))
    if family in _LARGER_IS_TIGHTER:
        return _compare(_size(new, none=math.inf), _size(old, none=math.inf))
    if family in _NONE_IS_SMALLEST:
        return _compare(_size(new, none=-math.inf), _size(old, none=-math.inf))
    if family in _TRUE_IS_TIGHTER:
        return _compare(bool(new), bool(old))
    if family in _TRUE_IS_LOOSER:
        return _compare(bool(old), bool(new))
    return Direction.NEUTRAL


def _compare(first: float, second: float) -> Direction:
    """TIGHTENING when the first value is the larger, LOOSENING when the second is."""
    if first > second:
        return Direction.TIGHTENING
    if first < second:
        return Direction.LOOSENING
    return Direction.NEUTRAL


def _size(value: Any, *, none: float) -> float:
    if isinstance(value, Span):
        value = value.nanos
    if value is None:
        return none
    return float(value)
