"""The fault kinds the simulator injects, what a correct engine must answer, and where they may go.

Each kind has an *opportunity* (what its rate is a probability of: one broker
event, one order, one group) and an *expectation*: the verdict of the labelled
event and/or the alert kind a correct engine raises (DESIGN sections 5 and 6,
reference policy rules/multileg_options.yaml), and the trading state the
policy's escalation moves the scope to.

Interference is designed out rather than labelled: a fault that halts its group
(or, for clock faults, moves all trading to ``reducing``) is placed after the
last local action it could block. See :mod:`.groups` and :mod:`.simulation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PER_BROKER_EVENT: Final = "broker event"
PER_ORDER: Final = "order"
PER_GROUP: Final = "group"


@dataclass(frozen=True)
class FaultKind:
    name: str
    opportunity: str
    verdict: str | None
    alert: str | None
    escalates: str | None
    default_rate: float
    what: str
    #: The policy limit the fault is built against (a compiled-table path and its value), when its
    #: expectation holds only under that limit: a policy with another value may catch it otherwise.
    assumes: tuple[str, int | float] | None = None


KINDS: Final[tuple[FaultKind, ...]] = (
    FaultKind("reorder", PER_ORDER, "stale", None, None, 0.02,
              "the ack (new) is delivered after the order's first fill"),
    FaultKind("duplicate", PER_BROKER_EVENT, "duplicate", None, None, 0.01,
              "a broker event re-sent with the same event_id and poss_dup=true"),
    FaultKind("conflicting_duplicate", PER_GROUP, "reject", "conflicting_duplicate", "halted", 0.02,
              "a fill re-sent with the same event_id but a different last_px, after the group's last action"),
    FaultKind("lost_ack", PER_GROUP, None, "ack_timeout", None, 0.02,
              "a leg's acks are lost and its first fill comes more than 5s after the submit",
              ("clock.timeouts_ns.ack", 5_000_000_000)),
    FaultKind("fill_after_cancel", PER_GROUP, "accept", "illegal_transition", "halted", 0.02,
              "a canceled leg reports a fill for its remaining quantity (quantity must be kept)"),
    FaultKind("overfill", PER_GROUP, "accept", "overfill", "halted", 0.02,
              "a hedge's final fill reports cum_qty above the order quantity"),
    FaultKind("orphan_order", PER_GROUP, None, "orphan_order", "halted", 0.02,
              "a leg reaches the broker with no intent or submit recorded (crash between send and record)"),
    FaultKind("submit_without_intent", PER_GROUP, "block", "submit_without_intent", None, 0.02,
              "a submit for an order with no intent"),
    FaultKind("hedge_depth", PER_GROUP, "block", "hedge_depth_exceeded", "halted", 0.02,
              "a hedge of a hedge fills partially and a third-level hedge is asked for", ("hedging.max_depth", 2)),
    FaultKind("insufficient_liquidity", PER_GROUP, "block", "insufficient_liquidity", None, 0.02,
              "a hedge asks for more than half the displayed size on the side it takes (retried once the book refills)",
              ("hedging.liquidity_fraction", 0.5)),
    FaultKind("stale_quote", PER_GROUP, "block", "stale_quote", None, 0.02,
              "a hedge is asked for when its symbol's last quote is over 2s old (then retries after a fresh quote)",
              ("hedging.quote_max_age_ns", 2_000_000_000)),
    FaultKind("clock_skew", PER_GROUP, None, "clock_skew", "reducing", 0.01,
              "an episode where recv_ts runs 1.2s ahead of broker_ts + the normal offset", ("clock.max_skew_ns", 500_000_000)),
    FaultKind("future_timestamp", PER_GROUP, None, "clock_skew", "reducing", 0.01,
              "a quote whose broker_ts is 1.5s in the future", ("clock.future_tolerance_ns", 100_000_000)),
    FaultKind("sequence_gap", PER_BROKER_EVENT, None, "sequence_gap", None, 0.002,
              "broker_seq skips 1 to 3 numbers before a broker event"),
)

BY_NAME: Final[dict[str, FaultKind]] = {kind.name: kind for kind in KINDS}
NAMES: Final[tuple[str, ...]] = tuple(BY_NAME)

#: Group faults that shape the whole group (which legs fill, which hedges run): at most
#: one per group, drawn in this order, so their labels cannot contradict each other.
SHAPING: Final[tuple[str, ...]] = (
    "lost_ack", "orphan_order", "fill_after_cancel", "overfill", "hedge_depth",
    "insufficient_liquidity", "stale_quote",
)
#: Group faults that combine with any shape.
ADDED: Final[tuple[str, ...]] = ("conflicting_duplicate", "submit_without_intent")
#: Clock faults: all trading goes to ``reducing``, so they are placed after every group's
#: last leg intent (a trading system stops opening groups when reducing).
CLOCK: Final[tuple[str, ...]] = ("clock_skew", "future_timestamp")


def default_rates() -> dict[str, float]:
    return {kind.name: kind.default_rate for kind in KINDS}


def no_faults() -> dict[str, float]:
    return dict.fromkeys(NAMES, 0.0)
