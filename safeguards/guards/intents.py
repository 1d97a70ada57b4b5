"""Intents: every order is recorded (intent) before it is submitted, and acknowledged in time.

A ``submit`` with no intent is blocked; a broker event for an order we never
recorded is an ``orphan_order`` and the order is adopted (its exposure is real,
so it must be tracked). Timeouts are in broker time: ``ack`` from the intent
(restarted at submit), ``fill`` from the submit, ``cancel`` from the cancel
request. Start-up reconciliation against the broker's open orders follows
``intents.recovery`` (:meth:`IntentsGuard.reconcile`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from ..book import Order
from ..session import LIVE, SessionTraits
from .base import ACCEPT, AT_PRECHECK, AT_RECORD, BLOCK, BROKER_TYPES, FILL_TYPES, REJECT, STALE, Guard, StepSpec



class IntentsGuard(Guard):
    name = "intents"
    section = "intents"

    def __init__(self, tables, book) -> None:
        super().__init__(tables, book)
        self.required_before_submit = bool(self.config.get("required_before_submit", True))
        self.orphan_severity: str = self.severity["orphan_order"]
        self.late_fill_severity: str = tables["ordering"]["late_fills"]["severity"]
        timeouts = tables.get("clock", {}).get("timeouts_ns", {})
        self.ack_ns: int | None = timeouts.get("ack")
        self.cancel_ns: int | None = timeouts.get("cancel")
        self.fill_ns: int | None = timeouts.get("fill")
        self.replace_ns: int | None = timeouts.get("replace")
        self.initial: str = tables["ordering"]["initial"]
        self.terminal = frozenset(tables["ordering"]["terminal"])
        self._states = frozenset(tables["ordering"]["stage"])
        self._recorded = (ACCEPT, self.name, "intent_recorded", "intent recorded: submission may proceed")
        self._submitted = (ACCEPT, self.name, "intent_before_submit", "submit matches a recorded intent")
        self._cancel_ok = (ACCEPT, self.name, "cancel_allowed", "cancel request recorded")
        self._replace_ok = (ACCEPT, self.name, "replace_allowed", "replace request recorded")
        self.orphans = 0
        #: Orders first seen from the broker in sessions that record no intents (not orphans: nothing to miss).
        self.unrecorded = 0
        #: Whether the current session carries our local events (see :class:`~safeguards.session.SessionTraits`).
        self.records_intents = True
        self.recovery: dict[str, str] = dict(self.config.get("recovery", {}))
        #: The state an intent the broker never saw is marked with: failed, never resubmitted.
        self.failed_state = "rejected" if "rejected" in self.terminal else min(self.terminal)

    def steps(self) -> Iterable[StepSpec]:
        return (
            StepSpec(("intent",), AT_PRECHECK, self.check_intent),
            StepSpec(("intent",), AT_RECORD, self.record_intent),
            StepSpec(("submit",), AT_RECORD, self.submit),
            StepSpec(("cancel_request",), AT_RECORD, self.cancel_request),
            StepSpec(("replace_request",), AT_RECORD, self.replace_request),
            StepSpec(BROKER_TYPES, AT_RECORD, self.broker_event),
        )

    # --- local actions ----------------------------------------------------------

    def check_intent(self, event: dict):
        if event["order_id"] in self.book.orders:
            return (BLOCK, self.name, "one_intent_per_order", f"order {event['order_id']!r} already has an intent or broker events")
        if event["order_id"] in self.book.evicted:
            return (BLOCK, self.name, "one_intent_per_order",
                    f"order {event['order_id']!r} finished long ago (evicted): use a new order id")
        return None

    def record_intent(self, event: dict):
        book = self.book
        order = Order(event["order_id"], self.initial, event["group_id"])
        order.role = event["role"]
        order.parent_id = event.get("parent_id")
        order.symbol = event["symbol"]
        order.side = event["side"]
        order.qty = event["qty"]
        order.has_intent = True
        book.enter(order)
        if self.ack_ns is not None:
            order.ack_deadline = book.now + self.ack_ns
            book.schedule(order.ack_deadline, self._ack_timeout, order)
        return self._recorded

    def submit(self, event: dict):
        book = self.book
        order = book.orders.get(event["order_id"])
        if order is None and event["order_id"] in book.evicted:
            return (BLOCK, self.name, "submit_once", "order finished long ago (evicted): use a new order id")
        if order is None or not order.has_intent:
            if not self.required_before_submit:
                return (ACCEPT, self.name, None, "submit without intent allowed by policy")
            book.alert(
                "submit_without_intent", self.severity["submit_without_intent"], self.name, event["order_id"],
                book.group_of(event), "submit for an order with no recorded intent was blocked",
            )
            return (BLOCK, self.name, "required_before_submit", "no intent recorded for this order: record the intent first")
        if order.submitted:
            return (BLOCK, self.name, "submit_once", "order already submitted")
        if order.state == self.failed_state and not order.acked:
            return (BLOCK, self.name, "lost_intent_failed",
                    "start-up reconciliation marked this intent failed: record a new intent with a new order id")
        order.submitted = True
        if self.ack_ns is not None and not order.acked:
            pending = order.ack_deadline is not None  # the intent's timer, yet to fire: it will wait on
            order.ack_deadline = book.now + self.ack_ns
            if not pending:
                book.schedule(order.ack_deadline, self._ack_timeout, order)
        if self.fill_ns is not None:
            order.fill_deadline = book.now + self.fill_ns
            book.schedule(order.fill_deadline, self._fill_timeout, order)
        return self._submitted

    def cancel_request(self, event: dict):
        book = self.book
        order = book.orders.get(event["order_id"])
        if order is None:
            if event["order_id"] in book.evicted:
                return (ACCEPT, self.name, "cancel_allowed", "order finished long ago (evicted): nothing to cancel")
            return (BLOCK, self.name, "cancel_known_order", "no such order to cancel")
        if order.state in self.terminal:
            return (ACCEPT, self.name, "cancel_allowed", f"order already {order.state}: nothing to cancel")
        if self.cancel_ns is not None:
            order.cancel_deadline = book.now + self.cancel_ns
            book.schedule(order.cancel_deadline, self._cancel_timeout, order)
        return self._cancel_ok

    def replace_request(self, event: dict):
        """A request to change the order (its new quantity): answered by replaced, refused, or the order's end."""
        book = self.book
        order = book.orders.get(event["order_id"])
        if order is None:
            if event["order_id"] in book.evicted:
                return (BLOCK, self.name, "replace_known_order", "order finished long ago (evicted): nothing to replace")
            return (BLOCK, self.name, "replace_known_order", "no such order to replace")
        if order.state in self.terminal:
            return (BLOCK, self.name, "replace_known_order", f"order already {order.state}: nothing to replace")
        order.replace_qty = event["qty"]
        if self.replace_ns is not None:
            order.replace_deadline = book.now + self.replace_ns
            book.schedule(order.replace_deadline, self._replace_timeout, order)
        return self._replace_ok

    # --- broker events ------------------------------------------------------------

    def broker_event(self, event: dict):
        orders = self.book.orders
        order = orders.get(event["order_id"])
        if order is None:
            if event["order_id"] in self.book.evicted:
                return self._evicted_order_event(event)
            order = self._adopt(event)
        if not order.acked:
            order.acked = True
            order.ack_deadline = None
        return None

    def _evicted_order_event(self, event: dict):
        """A late event for an order finished and forgotten: harmless, except a fill, which is real exposure."""
        if event["type"] not in FILL_TYPES:
            return (STALE, self.name, "evicted_order",
                    f"{event['type']} for an order finished and evicted more than the retention ago: not applied")
        detail = (f"{event['type']} for order {event['order_id']!r}, which finished and was evicted more than the "
                  "retention ago: its quantity cannot be applied; check the position with the broker")
        self.book.alert("illegal_transition", self.late_fill_severity, self.name, event["order_id"],
                        event.get("group_id"), detail, after_terminal=True)
        return (REJECT, self.name, "evicted_order", detail)

    def _adopt(self, event: dict) -> Order:
        """An order first heard of from the broker: tracked from here (its exposure is real).

        Its quantity is the report's OrderQty, else CumQty + LeavesQty while some is
        left; else unknown (a report with LeavesQty 0 and no OrderQty does not say),
        and overfill is then not judged. In a session that records intents it is an
        ``orphan_order``; in one that records none (a broker-side log) there is no
        intent to miss, and it is counted, not alerted.
        """
        book = self.book
        order = Order(event["order_id"], self.initial, event.get("group_id"))
        order.adopted = True
        order.submitted = True
        qty, cum, leaves = event.get("qty"), event.get("cum_qty"), event.get("leaves_qty")
        if qty is not None:
            order.qty = qty
        elif cum is not None and leaves:
            order.qty = cum + leaves
        for field in ("symbol", "side", "role", "parent_id"):
            if event.get(field) is not None:
                setattr(order, field, event[field])
        book.enter(order)
        if not self.records_intents:
            self.unrecorded += 1
            return order
        self.orphans += 1
        book.alert(
            "orphan_order", self.orphan_severity, self.name, order.order_id, order.group_id,
            f"broker event {event['type']} for an order with no recorded intent; order adopted",
        )
        return order

    # --- start-up reconciliation -----------------------------------------------------

    def reconcile(self, open_orders: list[dict[str, Any]]) -> None:
        """Compare the broker's open orders with ours and act as ``intents.recovery`` says.

        Each finding is an alert: ``orphan_order`` (the broker has it, we never
        recorded it: alert, adopt, or adopt and ask for its cancel),
        ``lost_intent`` (our open intent the broker never acknowledged and does
        not list: marked failed so it is never resubmitted silently, or alert
        only), ``state_mismatch`` (cum_qty disagrees: adopt the broker's, or
        alert only; or we hold an acknowledged order open that the broker no
        longer lists: alert, its final events are still to come).
        """
        book = self.book
        listed: dict[str, dict[str, Any]] = {}
        for entry in open_orders:
            listed[entry["order_id"]] = entry
        for order_id, entry in listed.items():
            order = book.orders.get(order_id)
            if order is None:
                self._reconcile_unknown(entry)
                continue
            broker_cum = entry.get("cum_qty") or 0
            if broker_cum != order.cum_qty:
                adopt = self.recovery.get("quantity_mismatch") == "adopt_broker"
                detail = f"broker cum_qty {broker_cum:g}, ours {order.cum_qty:g}"
                if adopt:
                    order.cum_qty = broker_cum
                    if order.qty is not None:
                        order.leaves_qty = max(order.qty - broker_cum, 0)
                book.alert("state_mismatch", self.severity["state_mismatch"], self.name, order_id, order.group_id,
                           detail + ("; adopted the broker's figure" if adopt else "; not changed (policy: alert)"))
        for order in list(book.orders.values()):
            if order.order_id in listed or order.state in self.terminal:
                continue
            if not order.acked and order.has_intent:
                mark = self.recovery.get("unacknowledged_intents") == "mark_failed"
                if mark:
                    order.state = self.failed_state
                    order.ack_deadline = order.fill_deadline = order.cancel_deadline = None
                    book.finish(order)
                book.alert(
                    "lost_intent", self.severity["lost_intent"], self.name, order.order_id, order.group_id,
                    f"intent {'submitted' if order.submitted else 'recorded'} but never acknowledged and not open at "
                    f"the broker; " + (f"marked failed ({self.failed_state}): never resubmitted" if mark
                                       else "left as is (policy: alert)"),
                )
            elif order.acked:
                book.alert(
                    "state_mismatch", self.severity["state_mismatch"], self.name, order.order_id, order.group_id,
                    f"we hold the order {order.state}; the broker no longer lists it open (its final events are due)",
                )

    def _reconcile_unknown(self, entry: dict[str, Any]) -> None:
        book = self.book
        action = self.recovery.get("unknown_broker_orders", "alert")
        detail = f"broker lists open order {entry['order_id']!r} (broker id {entry.get('broker_order_id')}) we never recorded"
        if action in ("adopt", "cancel"):
            status = entry.get("status")
            order = Order(entry["order_id"], status if isinstance(status, str) and status in self._states else "new")
            order.adopted = order.submitted = order.acked = True
            order.cum_qty = entry.get("cum_qty") or 0
            book.enter(order)
            if order.state in self.terminal:
                book.finish(order)
            self.orphans += 1
            detail += "; adopted" + ("; cancel it (policy: cancel)" if action == "cancel" else "")
        book.alert("orphan_order", self.orphan_severity, self.name, entry["order_id"], None, detail)

    # --- timers -------------------------------------------------------------------

    def _ack_timeout(self, order: Order, deadline: int) -> None:
        if order.ack_deadline is not None and order.ack_deadline > deadline and not order.acked:
            # restarted (by the submit) after this timer was set: wait on, rather than a timer per restart
            self.book.schedule(order.ack_deadline, self._ack_timeout, order)
        elif order.ack_deadline == deadline and not order.acked:
            order.ack_deadline = None
            self.book.alert(
                "ack_timeout", self.severity["ack_timeout"], self.name, order.order_id, order.group_id,
                f"no broker acknowledgement within {(self.ack_ns or 0) / 1e9:g}s of broker time",
            )

    def _cancel_timeout(self, order: Order, deadline: int) -> None:
        if order.cancel_deadline == deadline and order.state not in self.terminal:
            order.cancel_deadline = None
            self.book.alert(
                "cancel_timeout", self.severity["cancel_timeout"], self.name, order.order_id, order.group_id,
                f"cancel not confirmed within {(self.cancel_ns or 0) / 1e9:g}s of broker time (order is {order.state})",
            )

    def _replace_timeout(self, order: Order, deadline: int) -> None:
        if order.replace_deadline == deadline and order.state not in self.terminal:
            order.replace_deadline = None
            self.book.alert(
                "replace_timeout", self.severity["replace_timeout"], self.name, order.order_id, order.group_id,
                f"replace not answered within {(self.replace_ns or 0) / 1e9:g}s of broker time (order is {order.state})",
            )

    def _fill_timeout(self, order: Order, deadline: int) -> None:
        if order.fill_deadline == deadline and order.state not in self.terminal:
            order.fill_deadline = None
            self.book.alert(
                "fill_timeout", self.severity["fill_timeout"], self.name, order.order_id, order.group_id,
                f"order not done within {(self.fill_ns or 0) / 1e9:g}s of broker time (order is {order.state})",
            )

    def use_session(self, key: Hashable, traits: SessionTraits = LIVE) -> None:
        self.records_intents = traits.records_intents

    def snapshot(self) -> dict[str, Any]:
        return {"orphans": self.orphans, "unrecorded": self.unrecorded}

    def state(self) -> dict[str, Any]:
        return {"orphans": self.orphans, "unrecorded": self.unrecorded, "records_intents": self.records_intents}

    def restore(self, state: dict[str, Any]) -> None:
        self.orphans = state["orphans"]
        self.unrecorded = state.get("unrecorded", 0)
        self.records_intents = state.get("records_intents", True)
