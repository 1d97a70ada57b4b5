"""Intents: every order is recorded (intent) before it is submitted, and acknowledged in time.

A ``submit`` with no intent is blocked; a broker event for an order we never
recorded is an ``orphan_order`` and the order is adopted (its exposure is real,
so it must be tracked). Timeouts are in broker time: ``ack`` from the intent
(restarted at submit), ``fill`` from the submit, ``cancel`` from the cancel
request. Journal durability and start-up reconciliation (``intents.recovery``)
are issue 4.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..book import Order
from .base import ACCEPT, AT_PRECHECK, AT_RECORD, BLOCK, BROKER_TYPES, Guard, StepSpec



class IntentsGuard(Guard):
    name = "intents"
    section = "intents"

    def __init__(self, tables, book) -> None:
        super().__init__(tables, book)
        self.required_before_submit = bool(self.config.get("required_before_submit", True))
        self.orphan_severity: str = self.severity["orphan_order"]
        timeouts = tables.get("clock", {}).get("timeouts_ns", {})
        self.ack_ns: int | None = timeouts.get("ack")
        self.cancel_ns: int | None = timeouts.get("cancel")
        self.fill_ns: int | None = timeouts.get("fill")
        self.initial: str = tables["ordering"]["initial"]
        self.terminal = frozenset(tables["ordering"]["terminal"])
        self._recorded = (ACCEPT, self.name, "intent_recorded", "intent recorded: submission may proceed")
        self._submitted = (ACCEPT, self.name, "intent_before_submit", "submit matches a recorded intent")
        self._cancel_ok = (ACCEPT, self.name, "cancel_allowed", "cancel request recorded")
        self.orphans = 0

    def steps(self) -> Iterable[StepSpec]:
        return (
            StepSpec(("intent",), AT_PRECHECK, self.check_intent),
            StepSpec(("intent",), AT_RECORD, self.record_intent),
            StepSpec(("submit",), AT_RECORD, self.submit),
            StepSpec(("cancel_request",), AT_RECORD, self.cancel_request),
            StepSpec(BROKER_TYPES, AT_RECORD, self.broker_event),
        )

    # --- local actions ----------------------------------------------------------

    def check_intent(self, event: dict):
        if event["order_id"] in self.book.orders:
            return (BLOCK, self.name, "one_intent_per_order", f"order {event['order_id']!r} already has an intent or broker events")
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
        book.orders[order.order_id] = order
        if self.ack_ns is not None:
            order.ack_deadline = book.now + self.ack_ns
            book.schedule(order.ack_deadline, self._ack_timeout, order)
        return self._recorded

    def submit(self, event: dict):
        book = self.book
        order = book.orders.get(event["order_id"])
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
        order.submitted = True
        if self.ack_ns is not None and not order.acked:
            order.ack_deadline = book.now + self.ack_ns
            book.schedule(order.ack_deadline, self._ack_timeout, order)
        if self.fill_ns is not None:
            order.fill_deadline = book.now + self.fill_ns
            book.schedule(order.fill_deadline, self._fill_timeout, order)
        return self._submitted

    def cancel_request(self, event: dict):
        book = self.book
        order = book.orders.get(event["order_id"])
        if order is None:
            return (BLOCK, self.name, "cancel_known_order", "no such order to cancel")
        if order.state in self.terminal:
            return (ACCEPT, self.name, "cancel_allowed", f"order already {order.state}: nothing to cancel")
        if self.cancel_ns is not None:
            order.cancel_deadline = book.now + self.cancel_ns
            book.schedule(order.cancel_deadline, self._cancel_timeout, order)
        return self._cancel_ok

    # --- broker events ------------------------------------------------------------

    def broker_event(self, event: dict):
        orders = self.book.orders
        order = orders.get(event["order_id"])
        if order is None:
            order = self._adopt(event)
        if not order.acked:
            order.acked = True
            order.ack_deadline = None
        return None

    def _adopt(self, event: dict) -> Order:
        book = self.book
        order = Order(event["order_id"], self.initial, event.get("group_id"))
        order.adopted = True
        order.submitted = True
        cum, leaves = event.get("cum_qty"), event.get("leaves_qty")
        if cum is not None and leaves is not None:
            order.qty = cum + leaves
        for field in ("symbol", "side", "role", "parent_id"):
            if event.get(field) is not None:
                setattr(order, field, event[field])
        book.orders[order.order_id] = order
        self.orphans += 1
        book.alert(
            "orphan_order", self.orphan_severity, self.name, order.order_id, order.group_id,
            f"broker event {event['type']} for an order with no recorded intent; order adopted",
        )
        return order

    # --- timers -------------------------------------------------------------------

    def _ack_timeout(self, order: Order, deadline: int) -> None:
        if order.ack_deadline == deadline and not order.acked:
            order.ack_deadline = None
            self.book.alert(
                "ack_timeout", self.severity["ack_timeout"], self.name, order.order_id, order.group_id,
                f"no broker acknowledgement within {self.ack_ns / 1e9:g}s of broker time",
            )

    def _cancel_timeout(self, order: Order, deadline: int) -> None:
        if order.cancel_deadline == deadline and order.state not in self.terminal:
            order.cancel_deadline = None
            self.book.alert(
                "cancel_timeout", self.severity["cancel_timeout"], self.name, order.order_id, order.group_id,
                f"cancel not confirmed within {self.cancel_ns / 1e9:g}s of broker time (order is {order.state})",
            )

    def _fill_timeout(self, order: Order, deadline: int) -> None:
        if order.fill_deadline == deadline and order.state not in self.terminal:
            order.fill_deadline = None
            self.book.alert(
                "fill_timeout", self.severity["fill_timeout"], self.name, order.order_id, order.group_id,
                f"order not done within {self.fill_ns / 1e9:g}s of broker time (order is {order.state})",
            )

    def snapshot(self) -> dict[str, Any]:
        return {"orphans": self.orphans}
