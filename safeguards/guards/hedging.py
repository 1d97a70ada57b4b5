"""Hedging: an emergency hedge must not chase itself, nor take more than the book shows.

A hedge intent's depth is 1 + its parent's depth when the parent is itself a
hedge (parent links followed through hedges of hedges); deeper than
``max_depth`` is blocked (``hedge_depth_exceeded``). The hedge must find a quote
for its symbol fresher than ``quote_max_age`` (else ``stale_quote``) and its
quantity must not exceed ``liquidity_fraction`` of the displayed size on the
side it takes: the ask for a buy, the bid for a sell (else
``insufficient_liquidity``). At most ``max_attempts_per_group`` hedges per group.
A group whose leg fills are out of balance with no hedge filled since is
*unhedged*; past ``max_unhedged`` of broker time it raises ``unhedged_timeout``.

An evicted order leaves its group's legs; a group whose intents are all evicted
is dropped (its attempt count with it: a window later the group starts afresh).
A hedge whose parent chain reaches an evicted order counts depth up to there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..book import Order
from .base import ACCEPT, AT_AFTER, AT_CHECK, BLOCK, FILL_TYPES, Guard, StepSpec



class _Quote:
    __slots__ = ("bid_px", "bid_qty", "ask_px", "ask_qty", "broker_ts")
    bid_px: float
    bid_qty: float
    ask_px: float
    ask_qty: float
    broker_ts: int


class _Group:
    """Hedging's view of one group: hedge attempts and unbalanced-legs bookkeeping."""

    __slots__ = ("attempts", "legs", "unhedged_since", "members")

    def __init__(self) -> None:
        self.attempts = 0
        self.legs: list[Order] = []
        self.unhedged_since: int | None = None
        #: Orders with an intent in this group still in the book: at 0 the group is dropped.
        self.members = 0


class HedgingGuard(Guard):
    name = "hedging"
    section = "hedging"

    def __init__(self, tables, book) -> None:
        super().__init__(tables, book)
        config = self.config
        self.max_depth = int(config["max_depth"])
        self.fraction = float(config["liquidity_fraction"])
        self.quote_max_age_ns = int(config["quote_max_age_ns"])
        self.max_attempts = int(config["max_attempts_per_group"])
        self.max_unhedged_ns = int(config["max_unhedged_ns"])
        self.quotes: dict[str, _Quote] = {}
        self.groups: dict[str, _Group] = {}
        self._pending_depth = 0
        self._quote_seen = (ACCEPT, self.name, "quote", "quote recorded")
        book.on_evict.append(self.evicted)

    def steps(self) -> Iterable[StepSpec]:
        return (
            StepSpec(("quote",), AT_CHECK, self.quote),
            StepSpec(("intent",), AT_CHECK, self.check_intent),
            StepSpec(("intent",), AT_AFTER, self.after_intent),
            StepSpec(FILL_TYPES, AT_AFTER, self.after_fill),
        )

    # --- quotes ---------------------------------------------------------------------

    def quote(self, event: dict):
        quote = self.quotes.get(event["symbol"])
        if quote is None:
            quote = self.quotes[event["symbol"]] = _Quote()
        elif quote.broker_ts > self.book.bts:
            return self._quote_seen  # an older quote arriving late: keep the fresher one
        quote.bid_px = event["bid_px"]
        quote.bid_qty = event["bid_qty"]
        quote.ask_px = event["ask_px"]
        quote.ask_qty = event["ask_qty"]
        quote.broker_ts = self.book.bts
        return self._quote_seen

    # --- hedge intents ----------------------------------------------------------------

    def depth_of(self, parent_id: str | None) -> int:
        """1 + the parent's depth if the parent is a hedge order, following parent links."""
        depth = 1
        seen = set()
        order = self.book.orders.get(parent_id) if parent_id is not None else None
        while order is not None and order.role == "hedge" and order.order_id not in seen:
            seen.add(order.order_id)
            depth += 1
            order = self.book.orders.get(order.parent_id) if order.parent_id is not None else None
        return depth

    def check_intent(self, event: dict):
        if event["role"] != "hedge":
            return None
        book = self.book
        order_id, group_id = event["order_id"], event["group_id"]
        depth = self.depth_of(event.get("parent_id"))
        if depth > self.max_depth:
            book.alert(
                "hedge_depth_exceeded", self.severity["hedge_depth_exceeded"], self.name, order_id, group_id,
                f"hedge depth {depth} exceeds the limit {self.max_depth} (parent {event.get('parent_id')!r})",
            )
            return (BLOCK, self.name, "max_depth", f"hedge depth {depth} exceeds {self.max_depth}")
        group = self.groups.get(group_id)
        if group is not None and group.attempts >= self.max_attempts:
            book.alert(
                "hedge_attempts_exceeded", self.severity["hedge_attempts_exceeded"], self.name, order_id, group_id,
                f"group already made {group.attempts} hedge attempts (limit {self.max_attempts})",
            )
            return (BLOCK, self.name, "max_attempts_per_group", f"hedge attempts for the group exhausted ({self.max_attempts})")
        quote = self.quotes.get(event["symbol"])
        age = 0 if quote is None else book.now - quote.broker_ts
        if quote is None or age > self.quote_max_age_ns:
            detail = (
                f"no quote for {event['symbol']!r}" if quote is None
                else f"freshest quote for {event['symbol']!r} is {age / 1e9:.3f}s old (limit {self.quote_max_age_ns / 1e9:g}s)"
            )
            book.alert("stale_quote", self.severity["stale_quote"], self.name, order_id, group_id, detail)
            return (BLOCK, self.name, "quote_max_age", detail)
        displayed = quote.ask_qty if event["side"] == "buy" else quote.bid_qty
        allowed = self.fraction * displayed
        if event["qty"] > allowed:
            side = "ask" if event["side"] == "buy" else "bid"
            detail = f"hedge qty {event['qty']} exceeds {self.fraction:g} x {side} size {displayed} = {allowed:g}"
            book.alert("insufficient_liquidity", self.severity["insufficient_liquidity"], self.name, order_id, group_id, detail)
            return (BLOCK, self.name, "liquidity_fraction", detail)
        self._pending_depth = depth
        return None

    def after_intent(self, event: dict):
        order = self.book.orders[event["order_id"]]
        group = self.groups.get(order.group_id)  # type: ignore[arg-type]
        if group is None:
            group = self.groups[order.group_id] = _Group()  # type: ignore[index]
        group.members += 1
        if order.role == "hedge":
            order.hedge_depth = self._pending_depth
            group.attempts += 1
        elif order.role == "leg":
            group.legs.append(order)
        return None

    # --- unhedged exposure --------------------------------------------------------------

    def after_fill(self, event: dict):
        order = self.book.orders[event["order_id"]]
        group_id = order.group_id
        group = self.groups.get(group_id) if group_id is not None else None
        if group is None:
            return None
        role = order.role
        if role == "hedge":
            group.unhedged_since = None
        elif role == "leg":
            self._update_balance(group, group_id)  # type: ignore[arg-type]
        return None

    def _update_balance(self, group: _Group, group_id: str) -> None:
        # Balanced: every leg (with a quantity) filled to the same fraction. A plain loop: on
        # CPython 3.11 a comprehension is a function call of its own.
        balanced, first = True, None
        for leg in group.legs:
            qty = leg.qty
            if qty:
                ratio = leg.cum_qty / qty
                if first is None:
                    first = ratio
                elif ratio != first:
                    balanced = False
                    break
        if balanced:
            group.unhedged_since = None
        elif group.unhedged_since is None:
            book = self.book
            group.unhedged_since = book.now
            book.schedule(book.now + self.max_unhedged_ns, self._unhedged_timeout, (group_id, book.now))

    def _unhedged_timeout(self, episode: tuple[str, int], deadline: int) -> None:
        group_id, since = episode
        group = self.groups.get(group_id)
        if group is not None and group.unhedged_since == since:
            self.book.alert(
                "unhedged_timeout", self.severity["unhedged_timeout"], self.name, None, group_id,
                f"legs out of balance and no hedge filled for {self.max_unhedged_ns / 1e9:g}s of broker time",
            )

    # --- eviction ------------------------------------------------------------------------

    def evicted(self, order: Order) -> None:
        """Forget a long-finished order: out of its group's legs; the group too once it has no orders left."""
        group_id = order.group_id
        group = self.groups.get(group_id) if order.has_intent and group_id is not None else None
        if group is None:
            return
        if order.role == "leg" and order in group.legs:
            group.legs.remove(order)
        group.members -= 1
        if group.members <= 0:
            del self.groups[group_id]  # type: ignore[arg-type]

    def state(self) -> dict[str, Any]:
        return {
            "quotes": {symbol: [getattr(q, name) for name in _Quote.__slots__] for symbol, q in self.quotes.items()},
            "groups": {gid: [g.attempts, [leg.order_id for leg in g.legs], g.unhedged_since, g.members]
                       for gid, g in self.groups.items()},
            "pending_depth": self._pending_depth,
        }

    def restore(self, state: dict[str, Any]) -> None:
        orders = self.book.orders
        self.quotes = {}
        for symbol, values in state["quotes"].items():
            quote = self.quotes[symbol] = _Quote()
            for name, value in zip(_Quote.__slots__, values, strict=True):
                setattr(quote, name, value)
        self.groups = {}
        members: dict[str, int] = {}
        for gid, (attempts, legs, since, *rest) in state["groups"].items():
            group = self.groups[gid] = _Group()
            group.attempts, group.unhedged_since = attempts, since
            group.legs = [orders[order_id] for order_id in legs if order_id in orders]
            if rest:
                group.members = rest[0]
            else:  # a checkpoint from before eviction: count the group's intents
                if not members:
                    for order in orders.values():
                        if order.has_intent and order.group_id is not None:
                            members[order.group_id] = members.get(order.group_id, 0) + 1
                group.members = members.get(gid, 0)
        self._pending_depth = state["pending_depth"]

    def snapshot(self) -> dict[str, Any]:
        return {
            "quotes": len(self.quotes),
            "groups": {
                gid: {"attempts": g.attempts, "unhedged_since": g.unhedged_since} for gid, g in self.groups.items()
            },
        }
