"""Ordering: apply a broker event to its order only if the policy allows the transition.

DESIGN section 6: an allowed transition is accepted; a target in an earlier
stage of the progression than the current state is a late delivery (``stale``);
anything else is a violation (``reject`` + alert, or applied + alert, as the
policy says). A fill after one of ``late_fills.after`` is real exposure: its
quantity is kept and a critical alert escalates the group. ``cum_qty`` never
goes backwards; above the order quantity it is an ``overfill``. Gaps in
``broker_seq`` (per account, within a session of the broker's numbering)
raise ``sequence_gap``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from ..session import LIVE, SessionTraits

from .base import ACCEPT, AT_STATE, BROKER_TYPES, FILL_TYPES, REJECT, STALE, Guard, StepSpec

REVERT = "revert"


def quantity_tolerance(quantity: float) -> float:
    """How far two quantities may differ and still be equal: sums of binary floats are not exact.

    A venue's 11.8 and 3.4 add to 15.200000000000001 against its own cum_qty 15.2; a billionth
    of the quantity (and at least a billionth of a unit) is rounding, not exposure.
    """
    return 1e-9 * max(abs(quantity), 1.0)


class OrderingGuard(Guard):
    name = "ordering"
    section = "ordering"

    def __init__(self, tables, book) -> None:
        super().__init__(tables, book)
        config = self.config
        self.stage: dict[str, int] = dict(config["stage"])
        self.terminal = frozenset(config["terminal"])
        self.initial: str = config["initial"]
        self.event_state: dict[str, str] = dict(config["event_state"])
        self.transitions: dict[str, dict[str, str]] = {k: dict(v) for k, v in config["transitions"].items()}
        violation = config["on_violation"]
        self.apply_violations = violation["action"] == "apply"
        self.violation_severity: str = violation["severity"]
        self.violation_severity_after_terminal: str = violation.get("severity_after_terminal", violation["severity"])
        late = config.get("late_fills", {"after": [], "severity": "critical"})
        self.late_fill_after = frozenset(late["after"])
        self.late_fill_severity: str = late["severity"]
        self.overfill_severity: str = self.severity["overfill"]
        self.fill_conflict_severity: str = self.severity["fill_conflict"]
        self.check_gaps = bool(config["check_sequence_gaps"])
        self.gap_severity: str = self.severity["sequence_gap"]
        # States a `revert` event (cancel_rejected) can return from: the targets of the
        # `pending_*` event types other than the initial state. The compiled tables do not
        # name them (see the engine report); this is derived from the canonical event types.
        self.pending_states = frozenset(
            state for event_type, state in self.event_state.items()
            if event_type.startswith("pending_") and state not in (self.initial, REVERT)
        )
        # Accept decisions, one per (from, to), built once.
        self._accepts: dict[str, dict[str, tuple]] = {
            source: {target: (ACCEPT, self.name, rule, f"{source} -> {target}") for target, rule in targets.items()}
            for source, targets in self.transitions.items()
        }
        self._no_targets: dict[str, tuple] = {}
        #: The current session's last broker_seq per account; :attr:`sessions` holds every session's (this one too).
        self.last_broker_seq: dict[str, int] = {}
        self.session: Hashable = None
        self.sessions: dict[Hashable, dict[str, int]] = {None: self.last_broker_seq}

    def steps(self) -> Iterable[StepSpec]:
        return (StepSpec(BROKER_TYPES, AT_STATE, self.apply),)

    def apply(self, event: dict):
        """Decide the event; a terminal order is then (re)queued for eviction, its last event being now."""
        order = self.book.orders[event["order_id"]]  # the intents guard adopts unknown orders first
        decision = self._apply(order, event)
        if order.state in self.terminal:
            self.book.finish(order)
        elif order.done_at is not None:  # out of a terminal state again (a violation applied)
            order.done_at = None
        return decision

    def _apply(self, order, event: dict):
        book = self.book
        if self.check_gaps:
            broker_seq = event.get("broker_seq")
            if broker_seq is not None:
                account = event.get("account") or "default"
                if broker_seq == self.last_broker_seq.get(account, -2) + 1:  # the usual case: the next message
                    self.last_broker_seq[account] = broker_seq
                else:
                    self._check_sequence(event, order)
        type_ = event["type"]
        target = self.event_state.get(type_)
        current = order.state
        if target is None:
            return (REJECT, self.name, None, f"the policy maps no order state to broker event {type_!r}")
        if target == REVERT:
            return self._revert(order, current)
        if type_ in FILL_TYPES:
            return self._fill(order, current, target, event)
        cum = event.get("cum_qty")
        decision = self._accepts.get(current, self._no_targets).get(target)
        if decision is not None:
            self._enter(order, current, target, event, cum)
            return decision
        if self.stage.get(target, 0) < self.stage.get(current, 0) or target == current:
            return (STALE, self.name, None, f"{type_} announces {target}, but the order is already {current}: a late delivery")
        return self._violation(order, current, target, event, cum)

    def _violation(self, order, current: str, target: str, event: dict, cum, kept: str = ""):
        after_terminal = current in self.terminal
        severity = self.violation_severity_after_terminal if after_terminal else self.violation_severity
        self.book.alert(
            "illegal_transition", severity, self.name, order.order_id, order.group_id,
            f"{event['type']} would move the order from {current} to {target}, which the policy does not allow{kept}",
            after_terminal,
        )
        if self.apply_violations:
            self._enter(order, current, target, event, cum)
            return (ACCEPT, self.name, "on_violation", f"{current} -> {target} not allowed, applied by policy (alerted)")
        if kept:
            return (ACCEPT, self.name, "fill_kept", f"{current} -> {target} is not an allowed transition: "
                                                   f"the order stays {current}, the fill's quantity is kept (alerted)")
        return (REJECT, self.name, "on_violation", f"{current} -> {target} is not an allowed transition")

    # --- trade reports: a fill is never lost in silence --------------------------------

    def _fill(self, order, current: str, target: str, event: dict):
        """A trade report: its quantity is counted once, whatever the state says; the state follows the table.

        The quantity it adds is what its ``cum_qty`` adds, plus what its ``last_qty``
        adds beyond every cum_qty seen (the sum of the distinct reports' last_qty
        above the order's cum_qty: a cum_qty restarted at a replace, say). The
        latter contradicts the broker's own cum_qty: kept, and a ``fill_conflict``
        alert names the order and the quantity. A report that adds nothing is an
        older fill already counted (``stale``). One that adds quantity where the
        policy allows no fill keeps its quantity (the venue traded) and alerts.
        """
        before = order.cum_qty
        cum = event["cum_qty"]
        last = event.get("last_qty") or 0
        reported = cum if cum > before else before
        traded = (order.traded_qty or 0) + last
        unaccounted = traded - reported if traded - reported > quantity_tolerance(reported) else 0
        new_cum = reported + unaccounted
        added = new_cum - before
        allowed = self._accepts.get(current, self._no_targets).get(target)
        if added <= 0:
            order.traded_qty = traded
            if allowed is not None and self.stage.get(target, 0) > self.stage.get(current, 0):
                self._enter(order, current, target, event, None)  # e.g. the final fill at the same cum_qty
                return allowed
            return (STALE, self.name, None,
                    f"cum_qty {cum} is not above the order's {before} and its {last} traded are counted: an older fill")
        order.traded_qty = traded
        if unaccounted:
            self.book.alert(
                "fill_conflict", self.fill_conflict_severity, self.name, order.order_id, order.group_id,
                f"{event['type']} reports {last} traded but cum_qty {cum}, while {before} was already counted: "
                f"{unaccounted} at stake that no cum_qty includes (cum_qty restarted at a replace?); kept, "
                f"cum_qty {before} -> {new_cum}",
            )
        if allowed is not None:
            self._enter(order, current, target, event, new_cum)
            return allowed if not unaccounted else (ACCEPT, self.name, "fill_conflict",
                                                    f"{current} -> {target}; {unaccounted} traded beyond cum_qty kept (alerted)")
        if current in self.late_fill_after:
            return self._late_fill(order, current, event, new_cum)
        order.cum_qty = new_cum
        self._check_overfill(order)
        return self._violation(order, current, target, event, new_cum,
                               f"; its {added} traded are kept (cum_qty {before} -> {new_cum}): the venue traded them")

    def _enter(self, order, current: str, target: str, event: dict, cum) -> None:
        if target in self.pending_states and current not in self.pending_states:
            order.before_pending = current
        order.state = target
        qty = event.get("qty")
        if event["type"] == "replaced":  # the replace took effect: its quantity is the order's now
            order.replace_deadline = None
            qty = qty if qty is not None else order.replace_qty
            if qty is not None:
                order.qty = qty
            order.replace_qty = None
        elif qty is not None and order.qty is None:
            order.qty = qty
        if cum is not None and cum > order.cum_qty:
            order.cum_qty = cum
            self._check_overfill(order)
        leaves = event.get("leaves_qty")
        if leaves is not None:
            order.leaves_qty = leaves
        if target in self.terminal:
            order.cancel_deadline = order.replace_deadline = order.fill_deadline = None

    def _revert(self, order, current: str):
        order.cancel_deadline = order.replace_deadline = None
        order.replace_qty = None
        if current in self.pending_states and order.before_pending is not None:
            previous = order.before_pending
            order.state = previous
            order.before_pending = None
            return (ACCEPT, self.name, REVERT, f"request rejected: {current} -> {previous}")
        return (STALE, self.name, REVERT, f"no pending request to revert (order is {current})")

    def _late_fill(self, order, current: str, event: dict, cum):
        before = order.cum_qty
        if cum > before:
            order.late_qty += cum - before
            order.cum_qty = cum
        self.book.alert(
            "illegal_transition", self.late_fill_severity, self.name, order.order_id, order.group_id,
            f"{event['type']} after {current}: the venue matched before the cancel; "
            f"quantity kept (cum_qty {before} -> {order.cum_qty}), a person must look",
            True,
        )
        self._check_overfill(order)
        return (ACCEPT, self.name, "late_fills", f"fill after {current} is real exposure: quantity kept, group escalated")

    def _check_overfill(self, order) -> None:
        if order.qty is not None and order.cum_qty - order.qty > quantity_tolerance(order.qty):
            self.book.alert(
                "overfill", self.overfill_severity, self.name, order.order_id, order.group_id,
                f"cum_qty {order.cum_qty} exceeds the order quantity {order.qty}",
            )

    def _check_sequence(self, event: dict, order) -> None:
        broker_seq = event.get("broker_seq")
        if broker_seq is None:
            return
        account = event.get("account") or "default"
        last = self.last_broker_seq.get(account)
        if last is None or broker_seq > last:
            self.last_broker_seq[account] = broker_seq
            if last is not None and broker_seq > last + 1:
                self.book.alert(
                    "sequence_gap", self.gap_severity, self.name, order.order_id, order.group_id,
                    f"broker_seq jumped from {last} to {broker_seq}: {broker_seq - last - 1} message(s) missing",
                )

    def new_session(self) -> None:
        """Sequence numbers start over: the next one is compared with nothing (a restart is not a gap)."""
        self.last_broker_seq.clear()

    def use_session(self, key: Hashable, traits: SessionTraits = LIVE) -> None:
        """Events from here on are numbered by session ``key``: compared with its own last number, not another's."""
        if key != self.session:
            self.session = key
            self.last_broker_seq = self.sessions.setdefault(key, {})

    def snapshot(self) -> dict[str, Any]:
        return {"last_broker_seq": dict(self.last_broker_seq)}

    def state(self) -> dict[str, Any]:
        # A list of pairs, not an object: a session's key (a log's ingest id, say) need not be a string.
        return {"last_broker_seq": dict(self.last_broker_seq), "session": self.session,
                "other_sessions": [[key, dict(seqs)] for key, seqs in self.sessions.items() if key != self.session]}

    def restore(self, state: dict[str, Any]) -> None:
        self.session = state.get("session")  # absent from checkpoints older than sessions: one session, None
        self.last_broker_seq = dict(state["last_broker_seq"])
        self.sessions = {key: dict(seqs) for key, seqs in state.get("other_sessions", [])}
        self.sessions[self.session] = self.last_broker_seq
