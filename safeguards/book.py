"""The engine's shared runtime state: orders, broker time, timers and raised alerts.

Guards read and write it; the engine owns it. Broker time (``now``) only moves
forward; timers fire when it passes their deadline, whichever event moved it
(a quote, another order's event, or :meth:`Book.advance` when live).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from .events import format_timestamp

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
_NEVER = 1 << 64  # after any broker time

#: The alert kind of an order evicted before it reached a terminal state (see :meth:`Book.evict_overflow`).
EVICTED_UNFINISHED = "order_evicted_unfinished"


class Order:
    """What the engine knows about one order. One object per order, not per event."""

    __slots__ = (
        "order_id", "group_id", "role", "parent_id", "symbol", "side", "qty", "state",
        "before_pending", "cum_qty", "leaves_qty", "has_intent", "submitted", "acked",
        "ack_deadline", "cancel_deadline", "fill_deadline", "hedge_depth", "late_qty", "adopted", "done_at",
        "replace_deadline", "traded_qty", "replace_qty",
    )
    #: Values of the slots added after the first checkpoints, for rows that predate them (in slot order).
    _LATER_SLOTS = {"done_at": None, "replace_deadline": None, "traded_qty": None, "replace_qty": None}

    def __init__(self, order_id: str, state: str, group_id: str | None = None) -> None:
        self.order_id = order_id
        self.group_id = group_id
        self.role: str | None = None
        self.parent_id: str | None = None
        self.symbol: str | None = None
        self.side: str | None = None
        self.qty: float | None = None
        self.state = state
        self.before_pending: str | None = None
        self.cum_qty: float = 0
        self.leaves_qty: float | None = None
        self.has_intent = False
        self.submitted = False
        self.acked = False
        self.ack_deadline: int | None = None
        self.cancel_deadline: int | None = None
        self.fill_deadline: int | None = None
        self.hedge_depth = 0
        self.late_qty: float = 0
        self.adopted = False
        #: Broker time of its last event while terminal (None while live): eviction's clock.
        self.done_at: int | None = None
        self.replace_deadline: int | None = None
        #: The sum of the distinct trade reports' last_qty (None: none seen): a fill cum_qty does not account for shows here.
        self.traded_qty: float | None = None
        #: The quantity a pending replace request asked for (applied when the broker confirms it).
        self.replace_qty: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if not name.endswith(("_deadline", "done_at"))}

    def row(self) -> list[Any]:
        """Every slot, deadlines included, in slot order: a checkpoint's row."""
        return [getattr(self, name) for name in self.__slots__]

    @classmethod
    def from_row(cls, row: list[Any]) -> Order:
        order = cls.__new__(cls)
        missing = cls.__slots__[len(row):]  # a checkpoint from before these slots: their starting values
        row = [*row, *(cls._LATER_SLOTS[name] for name in missing)]
        for name, value in zip(cls.__slots__, row, strict=True):
            setattr(order, name, value)
        return order


class Book:
    """Orders, broker time, timers and the alert buffer shared by the guards of one engine.

    Eviction keeps the book bounded: an order in a terminal state whose last event
    is more than ``retain_ns`` of broker time old is dropped (the engine sets
    ``retain_ns`` to the idempotency window, at least the longest timeout, so no
    timer outlives its order). :meth:`finish` queues (time, order id) as a
    terminal order sees an event; :meth:`advance` pops the queue's old end, so
    the cost is amortised O(1). Evicted ids are remembered, the newest
    ``max_evicted`` of them (like the dedup keys), so a late broker event for one
    is ``stale``, not an orphan, except a fill: real exposure that can no longer be
    applied, so ``reject`` plus a critical ``illegal_transition``
    (:class:`~.guards.intents.IntentsGuard`).
    """

    def __init__(self, policy_identity: str) -> None:
        self.policy = policy_identity
        self.orders: dict[str, Order] = {}
        #: Broker time in ns (the engine's notion of now); 0 until a broker timestamp is seen.
        self.now = 0
        #: Estimated recv_ts - broker_ts (set by the clock guard); None until known.
        self.offset: int | None = None
        # The event being processed: its seq and parsed timestamps (None if absent).
        self.seq: int | None = None
        self.bts: int | None = None
        self.rts: int | None = None
        #: Its canonical fields present and not None, in canonical order, if the engine knows them.
        self.fields: tuple[str, ...] | None = None
        self.alerts: list[dict[str, Any]] = []
        self._timers: list[tuple[int, int, Callable[[Any, int], None], Any]] = []
        self._timer_count = 0
        #: Called with (alert, after_terminal) for every alert; set by the engine (escalation).
        self.on_alert: Callable[[dict[str, Any], bool], None] | None = None
        #: Keep finished orders this long (broker ns); None: never evict.
        self.retain_ns: int | None = None
        #: How many evicted order ids to remember (oldest forgotten first).
        self.max_evicted = 1_000_000
        #: Evicted order ids, oldest first (values unused).
        self.evicted: OrderedDict[str, None] = OrderedDict()
        self.evictions = 0
        #: Called with each evicted order, so guards drop what served only it.
        self.on_evict: list[Callable[[Order], None]] = []
        self._finished: deque[tuple[int, str]] = deque()
        #: At most this many orders are held (the policy's ``idempotency.max_keys``): past it the order that
        #: entered first goes, finished or not, so that a feed of orders that never finish cannot exhaust
        #: the process; an unfinished one raises ``order_evicted_unfinished`` (issue 15 item 9).
        self.max_orders = 1_000_000
        #: Terminal states (set by the engine): an order evicted in another is evicted unfinished.
        self.terminal: frozenset[str] = frozenset()
        #: (order id, order) in the order they entered the book; stale entries are skipped, and dropped in bulk.
        self._entered: deque[tuple[str, Order]] = deque()
        #: Broker time after which :meth:`advance` has work (a timer due, an order to evict).
        self._wake_at = _NEVER

    # --- groups -------------------------------------------------------------------

    def group_of(self, event: dict) -> str | None:
        """The event's group: its own group_id, else the group of its order."""
        group = event.get("group_id")
        if group is None:
            order = self.orders.get(event.get("order_id"))  # type: ignore[arg-type]
            if order is not None:
                return order.group_id
        return group

    # --- alerts -------------------------------------------------------------------

    def alert(
        self,
        kind: str,
        severity: str,
        guard: str,
        order_id: str | None,
        group_id: str | None,
        detail: str,
        after_terminal: bool = False,
    ) -> None:
        """Raise an alert at the current event (or time), and let escalation see it."""
        stamp = self.bts if self.bts is not None else (self.now or None)
        alert = {
            "kind": kind,
            "severity": severity,
            "guard": guard,
            "seq": self.seq,
            "order_id": order_id,
            "group_id": group_id,
            "broker_ts": None if stamp is None else format_timestamp(stamp),
            "detail": detail,
        }
        self.alerts.append(alert)
        if self.on_alert is not None:
            self.on_alert(alert, after_terminal)

    # --- time ---------------------------------------------------------------------

    def schedule(self, deadline: int, callback: Callable[[Any, int], None], order: Any) -> None:
        """Call ``callback(order, deadline)`` (``order`` may be any object) once broker time passes ``deadline``.

        Callbacks check that what they wait for is still pending (timers are never
        cancelled, only found moot), so rescheduling is just scheduling again.
        """
        self._timer_count += 1
        heapq.heappush(self._timers, (deadline, self._timer_count, callback, order))
        if deadline < self._wake_at:
            self._wake_at = deadline

    def advance(self, now: int) -> None:
        """Move broker time forward to ``now``, fire every timer it passes, then evict long-finished orders."""
        if now <= self.now:
            return
        self.now = now
        if now > self._wake_at:  # most events move time without anything falling due: one comparison
            self._wake(now)

    def _wake(self, now: int) -> None:
        timers = self._timers
        if timers and timers[0][0] < now:
            saved_bts = self.bts
            while timers and timers[0][0] < now:
                deadline, _, callback, order = heapq.heappop(timers)
                self.bts = deadline
                callback(order, deadline)
            self.bts = saved_bts
        finished = self._finished
        if finished and finished[0][0] < now - self.retain_ns:  # type: ignore[operator]
            self._evict(now - self.retain_ns)  # type: ignore[operator]
        self._rewake()

    def _rewake(self) -> None:
        """When :meth:`advance` must next look: the first timer's deadline or the first eviction, whichever is sooner."""
        wake = _NEVER
        if self._timers:
            wake = self._timers[0][0]
        if self._finished and self.retain_ns is not None:
            wake = min(wake, self._finished[0][0] + self.retain_ns)
        self._wake_at = wake

    def rebase(self, shift: int) -> None:
        """Move broker time and every pending deadline by ``shift`` ns, once, when the broker's clock is first known.

        Until then our clock stood in for the broker's (see :mod:`~.guards.clock`); what was
        set under that guess is re-expressed in the broker's time, backwards too.
        """
        self.now += shift
        self._timers = [(deadline + shift, count, callback, target) for deadline, count, callback, target in self._timers]
        heapq.heapify(self._timers)
        self._finished = deque((done_at + shift, order_id) for done_at, order_id in self._finished)
        for order in self.orders.values():
            for name in ("ack_deadline", "cancel_deadline", "replace_deadline", "fill_deadline", "done_at"):
                value = getattr(order, name)
                if value is not None:
                    setattr(order, name, value + shift)
        self._rewake()

    def set_timers(self, timers: list[tuple[int, int, Callable[[Any, int], None], Any]]) -> None:
        """Take back timers saved by :meth:`state` (in heap order), decoded by the engine."""
        self._timers = timers
        heapq.heapify(timers)
        self._rewake()

    # --- eviction -----------------------------------------------------------------

    def finish(self, order: Order) -> None:
        """A terminal order just saw an event: it may be evicted ``retain_ns`` after now."""
        order.done_at = now = self.now
        if self.retain_ns is not None:
            self._finished.append((now, order.order_id))
            if now + self.retain_ns < self._wake_at:
                self._wake_at = now + self.retain_ns

    def enter(self, order: Order) -> None:
        """Put a new order in the book (after every order already there)."""
        self.orders[order.order_id] = order
        self._entered.append((order.order_id, order))

    def evict_overflow(self) -> None:
        """Past :attr:`max_orders` orders, evict those that entered first; alert for each not finished."""
        orders, entered = self.orders, self._entered
        while len(orders) > self.max_orders and entered:
            order_id, order = entered.popleft()
            if orders.get(order_id) is not order:  # gone already, or entered again since
                continue
            del orders[order_id]
            self._remember_evicted(order_id)
            if order.state not in self.terminal:
                self.alert(EVICTED_UNFINISHED, "warning", "engine", order_id, order.group_id,
                           f"order {order_id} evicted unfinished (state {order.state}): the book holds at most "
                           f"{self.max_orders} orders (idempotency.max_keys)")
            for callback in self.on_evict:
                callback(order)
        if len(entered) > 2 * len(orders) + 1024:
            self._entered = deque(orders.items())

    def _remember_evicted(self, order_id: str) -> None:
        evicted = self.evicted
        evicted[order_id] = None
        if len(evicted) > self.max_evicted:
            evicted.popitem(last=False)
        self.evictions += 1

    def _evict(self, horizon: int) -> None:
        finished, orders = self._finished, self.orders
        while finished and finished[0][0] < horizon:
            done_at, order_id = finished.popleft()
            order = orders.get(order_id)
            if order is None or order.done_at != done_at:  # gone, live again, or seen since: a newer entry rules
                continue
            del orders[order_id]
            self._remember_evicted(order_id)
            for callback in self.on_evict:
                callback(order)

    def state(self, encode_timer: Callable[[Callable[[Any, int], None], Any], list[Any]]) -> dict[str, Any]:
        """Orders, time and timers, JSON-ready; `encode_timer(callback, target)` names a timer's work."""
        if self.alerts:
            raise RuntimeError("take the alerts (pop_alerts) before saving the book's state")
        return {
            "now": self.now, "offset": self.offset, "timer_count": self._timer_count,
            "orders": [order.row() for order in self.orders.values()],
            "finished": [list(entry) for entry in self._finished], "evicted": list(self.evicted),
            "evictions": self.evictions,
            "timers": [[deadline, count, *encode_timer(callback, target)]
                       for deadline, count, callback, target in self._timers],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Orders and time back; timers are restored by the engine, which knows the callbacks."""
        self.now, self.offset, self._timer_count = state["now"], state["offset"], state["timer_count"]
        self.orders = {}
        for row in state["orders"]:
            order = Order.from_row(row)
            self.orders[order.order_id] = order
        self._entered = deque(self.orders.items())
        self._finished = deque((done_at, order_id) for done_at, order_id in state.get("finished", ()))
        self.evicted = OrderedDict.fromkeys(state.get("evicted", ()))
        self.evictions = state.get("evictions", 0)
        self._rewake()

    def next_deadline(self) -> int | None:
        return self._timers[0][0] if self._timers else None
