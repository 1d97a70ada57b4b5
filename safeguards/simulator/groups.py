"""One multi-leg group's life, as the events a log would hold: quotes, our actions, the broker's answers.

The trading system it plays follows examples/guarded_executor.py: for each leg,
an intent, then its submit; the broker acks (sometimes after ``pending_new``),
fills in one to three pieces, or fills part and is cancelled (our
``cancel_request``) or expires, or rejects. Once every leg is done, each leg left
short is covered by an emergency hedge (same symbol and side, the missing
quantity, parent = the leg), asked for right after a fresh quote; a hedge that
fills partially is cancelled and covered by a hedge of the hedge, which fills.

Timing is broker time in ns: broker events have ``recv_ts = broker_ts +`` a
1.5 ms latency plus up to 3 ms of jitter (well inside the 500 ms skew tolerance);
our own events carry only ``recv_ts`` (our clock, in step with the broker's).

Faults that need a particular group (an uneven leg, a hedge chain) *shape* the
group (see :data:`.faults.SHAPING`); faults that halt the group come after its
last local action, so the labels of a group never contradict each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from random import Random
from typing import NamedTuple

from .labels import Label
from .market import MAX_SIZE, MIN_SIZE, LegSpec, Market

MS = 1_000_000
LATENCY_NS = 1_500_000
JITTER_NS = 3_000_000
QUOTE_EVERY_NS = (300 * MS, 600 * MS)
#: A late ack is only made from an ack this close before the fill that overtakes it, so
#: its recv_ts - broker_ts stays well inside the 500 ms skew tolerance.
REORDER_WITHIN_NS = 250 * MS
#: Lost acks: the order's first broker event comes this long after its submit (> 5 s ack timeout).
LOST_ACK_DELAY_NS = (5_600 * MS, 7_000 * MS)
#: Stale quotes: the hedge is asked for this long after its symbol's last quote (> 2 s).
STALE_AFTER_NS = (2_200 * MS, 2_800 * MS)
SIZE_STEPS = (MAX_SIZE - MIN_SIZE) // 10 + 1
MAX_CLEAN_UNEVEN_LEGS = 2  # 2 legs x 2 hedge levels + 1 retry stays within 5 attempts per group

_RECV = itemgetter("recv_ts")

FULL, PARTIAL_CANCEL, PARTIAL_EXPIRE, REJECT = "full", "partial_cancel", "partial_expire", "reject"
UNEVEN = (PARTIAL_CANCEL, PARTIAL_EXPIRE)


class GroupPlan(NamedTuple):
    """Which faults this group carries: at most one shaping fault, any added ones, per-event rates.

    A tuple, since windows of thousands of them go to worker processes.
    """

    shape: str | None = None
    added: frozenset[str] = frozenset()
    reorder_rate: float = 0.0
    duplicate_rate: float = 0.0


@dataclass
class GroupResult:
    events: list[dict]
    labels: list[Label]
    #: (re-sent copy, original): a re-send carries its original's broker_seq.
    resends: list[tuple[dict, dict]] = field(default_factory=list)
    end_ns: int = 0
    strategy: str = ""
    #: the symbols of every strategy drawn, the last one taken (see :meth:`.market.Market.free_strategy`)
    tried: list[tuple[str, ...]] = field(default_factory=list)


class GroupBuilder:
    """Builds one group's events; one instance per group, with the group's own random stream."""

    def __init__(self, index: int, rng: Random, market: Market, t0: int, plan: GroupPlan, run: str = "") -> None:
        self.gid = f"{run}G{index:07d}"  # the run's tag keeps ids apart when logs share a database
        self.rng = rng
        self.market = market
        self.t0 = t0
        self.plan = plan
        self.events: list[dict] = []
        self.labels: list[Label] = []
        self.resends: list[tuple[dict, dict]] = []
        self.broker_events: list[dict] = []
        self.fills: list[dict] = []
        self.last_quote: dict[str, int] = {}
        #: order_id -> recv_ts of its last broker event: one broker session delivers in order.
        self.last_recv: dict[str, int] = {}
        self._local = 0
        self._broker = 0
        self._hedges = 0
        self.random = rng.random

    def between(self, low: int, high: int) -> int:
        """A uniform integer in [low, high]: ``randint`` without its argument checks (4x cheaper)."""
        return low + int(self.random() * (high - low + 1))

    # --- ids and event constructors ------------------------------------------------------

    def _local_id(self) -> str:
        self._local += 1
        return f"{self.gid}-l{self._local}"

    def _broker_id(self) -> str:
        self._broker += 1
        return f"{self.gid}-x{self._broker}"

    def _recv(self, broker_ts: int) -> int:
        return broker_ts + LATENCY_NS + int(self.random() * JITTER_NS)

    def quote(self, symbol: str, theo: float, broker_ts: int, thin_side: str | None = None, thin_qty: int = 0) -> dict:
        random = self.random
        bid, ask = Market.quote_choices(theo)[int(random() * 9)]
        bid_qty = MIN_SIZE + 10 * int(random() * SIZE_STEPS)
        ask_qty = MIN_SIZE + 10 * int(random() * SIZE_STEPS)
        if thin_side == "bid":
            bid_qty = thin_qty
        elif thin_side == "ask":
            ask_qty = thin_qty
        event = {
            "seq": 0, "source": "market", "type": "quote", "symbol": symbol,
            "bid_px": bid, "bid_qty": bid_qty, "ask_px": ask, "ask_qty": ask_qty,
            "broker_ts": broker_ts, "recv_ts": self._recv(broker_ts),
        }
        self.events.append(event)
        self.last_quote[symbol] = broker_ts
        return event

    def intent(self, order_id: str, leg: LegSpec, qty: int, at: int, role: str = "leg",
               parent_id: str | None = None, limit_px: float | None = None) -> dict:
        event = {"seq": 0, "source": "local", "type": "intent", "event_id": self._local_id(), "order_id": order_id,
                 "group_id": self.gid}
        if role == "leg":
            event["leg"] = leg.name
        event["role"] = role
        if parent_id is not None:
            event["parent_id"] = parent_id
        event.update(symbol=leg.symbol, side=leg.side, qty=qty, limit_px=limit_px if limit_px is not None else leg.theo,
                     recv_ts=at)
        self.events.append(event)
        return event

    def local(self, type_: str, order_id: str, at: int) -> dict:
        event = {"seq": 0, "source": "local", "type": type_, "event_id": self._local_id(), "order_id": order_id,
                 "group_id": self.gid, "recv_ts": at}
        self.events.append(event)
        return event

    def broker(self, type_: str, order_id: str, cum: int, leaves: int, broker_ts: int,
               last_qty: int | None = None, last_px: float | None = None) -> dict:
        recv = broker_ts + LATENCY_NS + int(self.random() * JITTER_NS)
        previous = self.last_recv.get(order_id)
        if previous is not None and recv <= previous:
            recv = previous + 10_000
        self.last_recv[order_id] = recv
        if last_qty is None:
            event = {"seq": 0, "source": "broker", "type": type_, "event_id": self._broker_id(), "order_id": order_id,
                     "cum_qty": cum, "leaves_qty": leaves, "broker_ts": broker_ts, "recv_ts": recv, "broker_seq": 0}
        else:
            event = {"seq": 0, "source": "broker", "type": type_, "event_id": self._broker_id(), "order_id": order_id,
                     "last_qty": last_qty, "last_px": last_px, "cum_qty": cum, "leaves_qty": leaves,
                     "broker_ts": broker_ts, "recv_ts": recv, "broker_seq": 0}
            self.fills.append(event)
        self.events.append(event)
        self.broker_events.append(event)
        return event

    # --- one order at the broker ----------------------------------------------------------

    def order_flow(self, order_id: str, qty: int, px: float, submitted: int, filled: int, ending: str,
                   lost_ack: bool = False, overfill: int = 0, may_reorder: bool = True) -> int:
        """The broker's answers to one submitted order; returns when we know it is done (local time).

        ``filled`` is the quantity it fills; ``ending`` says how it ends if that is short
        of ``qty`` (or ``reject``).
        """
        rng = self.rng
        t = submitted + self.between(300_000, 1 * MS)  # the submit reaches the broker
        ack = None
        if not lost_ack:
            if self.random() < 0.25:
                self.broker("pending_new", order_id, 0, qty, t + 100_000)
            t += self.between(500_000, 3 * MS)
            if ending == REJECT:
                return self.broker("rejected", order_id, 0, 0, t)["recv_ts"]
            ack = self.broker("new", order_id, 0, qty, t)
            t += self.between(2 * MS, 200 * MS)
        else:
            t += self.between(*LOST_ACK_DELAY_NS)
        cum = 0
        pieces = _split(rng, filled, self.between(1, 3)) if filled else []
        last = None
        for number, piece in enumerate(pieces):
            if number:
                t += self.between(20 * MS, 300 * MS)
            cum += piece
            if cum == qty:
                last = self.broker("fill", order_id, cum + overfill, 0, t, piece + overfill, px)
            else:
                last = self.broker("partial_fill", order_id, cum, qty - cum, t, piece, px)
            if number == 0 and ack is not None and may_reorder and t - ack["broker_ts"] <= REORDER_WITHIN_NS \
                    and self.random() < self.plan.reorder_rate:
                ack["recv_ts"] = last["recv_ts"] + self.between(100_000, 2 * MS)
                self.labels.append(Label("reorder", ack, order_id, self.gid))
        if cum == qty:
            return last["recv_ts"]
        done = last["recv_ts"] if last is not None else (ack["recv_ts"] if ack is not None else t)
        if ending == PARTIAL_EXPIRE:
            return self.broker("expired", order_id, cum, 0, done + self.between(200 * MS, 600 * MS))["recv_ts"]
        cancel_at = done + self.between(200 * MS, 600 * MS)
        self.local("cancel_request", order_id, cancel_at)
        t = cancel_at + self.between(300_000, 1 * MS)
        self.broker("pending_cancel", order_id, cum, qty - cum, t)
        return self.broker("canceled", order_id, cum, 0, t + self.between(500_000, 3 * MS))["recv_ts"]

    # --- the group ------------------------------------------------------------------------

    def build(self) -> GroupResult:
        rng, plan, gid = self.rng, self.plan, self.gid
        strategy, specs, tried = self.market.free_strategy(rng, self.t0)
        shape = plan.shape
        forced = shape is not None
        base = self.between(6, 20) if forced else self.between(1, 10)
        endings = [FULL] * len(specs)
        if shape in ("fill_after_cancel", "overfill", "hedge_depth", "insufficient_liquidity", "stale_quote"):
            uneven_leg = rng.randrange(len(specs))
            endings[uneven_leg] = PARTIAL_CANCEL if shape == "fill_after_cancel" or self.random() < 0.7 else PARTIAL_EXPIRE
        elif not forced:
            for i in range(len(specs)):
                draw = self.random()
                endings[i] = REJECT if draw < 0.02 else PARTIAL_CANCEL if draw < 0.12 else PARTIAL_EXPIRE if draw < 0.16 else FULL
            uneven = [i for i, e in enumerate(endings) if e != FULL]
            for i in uneven[MAX_CLEAN_UNEVEN_LEGS:]:
                endings[i] = FULL
        special_leg = rng.randrange(len(specs)) if shape in ("lost_ack", "orphan_order") else -1

        t = self.t0
        for number, spec in enumerate(specs):
            self.quote(spec.symbol, spec.theo, t + number * 200_000)
        legs_done = t
        leg_results: list[tuple[LegSpec, str, int, int]] = []  # spec, order id, qty, filled
        for number, spec in enumerate(specs):
            order_id = f"{gid}-L{number + 1}"
            qty = base * spec.ratio
            at = t + 1 * MS + number * 300_000
            orphan = number == special_leg and shape == "orphan_order"
            if not orphan:
                self.intent(order_id, spec, qty, at)
                submit = self.local("submit", order_id, at + 50_000)
                if number == special_leg:
                    self.labels.append(Label("lost_ack", submit, order_id, gid, anchor="submit"))
            ending = endings[number]
            if ending in UNEVEN:
                filled = self.between(0, qty // 2 if forced else qty - 1)
            else:
                filled = qty if ending == FULL else 0
            done = self.order_flow(order_id, qty, spec.theo, at + 50_000, filled, ending,
                                   lost_ack=number == special_leg and shape == "lost_ack",
                                   may_reorder=number != special_leg)
            if orphan:
                self.labels.append(Label("orphan_order", None, order_id, gid, anchor="first_broker_event"))
            legs_done = max(legs_done, done)
            leg_results.append((spec, order_id, qty, filled))
        if "submit_without_intent" in plan.added:
            stray = self.local("submit", f"{gid}-X", t + self.between(2 * MS, 5 * MS))
            self.labels.append(Label("submit_without_intent", stray, stray["order_id"], gid))
        self._periodic_quotes(specs, legs_done)

        t = legs_done + self.between(5 * MS, 50 * MS)
        for spec, order_id, qty, filled in leg_results:
            if filled < qty and order_id != f"{gid}-L{special_leg + 1}":
                t = self.hedge_chain(spec, order_id, qty - filled, t) + self.between(10 * MS, 100 * MS)

        end = max(map(_RECV, self.events))
        if "conflicting_duplicate" in plan.added and self.fills:
            original = self.fills[rng.randrange(len(self.fills))]
            copy = dict(original, last_px=round(original["last_px"] + 0.05, 2), poss_dup=True)
            end = copy["recv_ts"] = end + self.between(1 * MS, 20 * MS)
            self.events.append(copy)
            self.resends.append((copy, original))
            self.labels.append(Label("conflicting_duplicate", copy, original["order_id"], gid))
        if shape == "fill_after_cancel":
            spec, order_id, qty, filled = leg_results[uneven_leg]
            late = self.broker("fill", order_id, qty, 0, end + self.between(5 * MS, 50 * MS), qty - filled, spec.theo)
            self.labels.append(Label("fill_after_cancel", late, order_id, gid))
        self._duplicates()
        end = max(map(_RECV, self.events))
        self.market.reserve(tried[-1], end)
        return GroupResult(self.events, self.labels, self.resends, end, strategy, tried)

    def _periodic_quotes(self, specs: list[LegSpec], until: int) -> None:
        for spec in specs:
            t = self.t0 + self.between(*QUOTE_EVERY_NS)
            while t < until:
                self.quote(spec.symbol, spec.theo, t)
                t += self.between(*QUOTE_EVERY_NS)

    def _duplicates(self) -> None:
        rate = self.plan.duplicate_rate
        if not rate:
            return
        for original in self.broker_events:
            if self.random() < rate:
                copy = dict(original, poss_dup=True)
                copy["recv_ts"] = original["recv_ts"] + self.between(1 * MS, 150 * MS)
                self.events.append(copy)
                self.resends.append((copy, original))
                self.labels.append(Label("duplicate", copy, original["order_id"], self.gid))

    # --- emergency hedges -----------------------------------------------------------------

    def hedge_chain(self, leg: LegSpec, leg_order: str, missing: int, t: int) -> int:
        """Cover ``missing`` of ``leg``: hedges, hedges of hedges; returns when the chain is done."""
        shape, gid = self.plan.shape, self.gid
        thin_side = "ask" if leg.side == "buy" else "bid"
        parent, depth, qty, first = leg_order, 1, missing, True
        while qty > 0:
            self._hedges += 1
            order_id = f"{gid}-H{self._hedges}"
            if first and shape == "insufficient_liquidity":
                quote = self.quote(leg.symbol, leg.theo, t, thin_side=thin_side, thin_qty=qty)
                blocked = self.intent(order_id, leg, qty, quote["recv_ts"] + self.between(2 * MS, 10 * MS),
                                      role="hedge", parent_id=parent, limit_px=_taking(quote, leg.side))
                self.labels.append(Label("insufficient_liquidity", blocked, order_id, gid))
                t = blocked["recv_ts"] + self.between(50 * MS, 200 * MS)
                first = False
                continue
            if first and shape == "stale_quote":
                at = max(t, self.last_quote[leg.symbol] + self.between(*STALE_AFTER_NS))
                blocked = self.intent(order_id, leg, qty, at, role="hedge", parent_id=parent)
                self.labels.append(Label("stale_quote", blocked, order_id, gid))
                t = at + self.between(20 * MS, 100 * MS)
                first = False
                continue
            first = False
            quote = self.quote(leg.symbol, leg.theo, t)
            at = quote["recv_ts"] + self.between(2 * MS, 10 * MS)
            px = _taking(quote, leg.side)
            intent = self.intent(order_id, leg, qty, at, role="hedge", parent_id=parent, limit_px=px)
            if depth > 2:  # only the hedge_depth fault gets here: the engine must block it
                self.labels.append(Label("hedge_depth", intent, order_id, gid))
                return at
            self.local("submit", order_id, at + 50_000)
            overfill = 0
            if shape == "hedge_depth":
                filled = self.between(1, qty - 2) if depth == 1 else self.between(1, qty - 1)
            elif depth == 1 and shape != "overfill" and qty >= 2 and self.random() < 0.3:
                filled = self.between(1, qty - 1)
            else:
                filled = qty
                if shape == "overfill":
                    overfill = self.between(1, 3)
            done = self.order_flow(order_id, qty, px, at + 50_000, filled, PARTIAL_CANCEL, overfill=overfill)
            if overfill:
                self.labels.append(Label("overfill", self.fills[-1], order_id, gid))
            t = done + self.between(20 * MS, 100 * MS)
            parent, depth, qty = order_id, depth + 1, qty - filled
        return t


def _taking(quote: dict, side: str) -> float:
    return quote["ask_px"] if side == "buy" else quote["bid_px"]


def _split(rng: Random, total: int, pieces: int) -> list[int]:
    """``total`` in up to ``pieces`` positive parts."""
    pieces = min(pieces, total)
    if pieces <= 1:
        return [total]
    cuts = sorted(rng.sample(range(1, total), pieces - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total])]
