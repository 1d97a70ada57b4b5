"""Trading state: alerts escalate a group, or everything, from active to reducing to halted.

The policy's ``escalation`` rules say which alert kinds (optionally: only after
a terminal state, only from a minimum severity) move which scope (the alert's
group, or all) to which state, and whether it clears after a span of broker
time. States only rise until cleared. The gate step blocks local actions the
state forbids: ``reducing`` lets only hedge intents (and their submits) and
cancels through, ``halted`` only cancels (a replace request is gated like a
submit: it changes what the order may trade). Broker events are facts and are never
blocked. An order with no group is its own group (keyed by its order id).

When an order is evicted, its group's entry is dropped only if it is back to
``active`` (absent means active); a ``reducing`` or ``halted`` group keeps its
state whatever is evicted: a halt is cleared by a person, or by its rule.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from .session import LIVE, SessionTraits

from .book import SEVERITY_RANK, Book
from .guards.base import AT_GATE, BLOCK, Guard, StepSpec

STATES = ("active", "reducing", "halted")
LEVEL = {name: index for index, name in enumerate(STATES)}
ESCALATION_SEVERITY = {"reducing": "warning", "halted": "critical", "active": "info"}


class Escalation(Guard):
    name = "escalation"
    section = "escalation"

    def __init__(self, tables, book: Book) -> None:
        super().__init__(tables, book)
        self.rules: list[dict[str, Any]] = list(tables.get("escalation", ()))
        self.by_kind: dict[str, list[dict[str, Any]]] = {}
        for rule in self.rules:
            for kind in rule["alerts"]:
                self.by_kind.setdefault(kind, []).append(rule)
        #: group key -> [level, rule id, since (broker ns)]
        self.groups: dict[str, list[Any]] = {}
        self.global_state: list[Any] = [0, None, None]
        #: Each broker session's own state (scope ``session``); :attr:`session_state` is the current one's.
        self.session: Hashable = None
        self.session_state: list[Any] = [0, None, None]
        self.sessions: dict[Hashable, list[Any]] = {None: self.session_state}
        self.escalated = False  # fast path for the gate: nothing escalated yet
        book.on_alert = self.on_alert
        book.on_evict.append(self.evicted)

    def steps(self) -> Iterable[StepSpec]:
        return (StepSpec(("intent", "submit", "replace_request"), AT_GATE, self.gate),)

    # --- reading ---------------------------------------------------------------------

    def state_of(self, group_id: str | None = None) -> str:
        """The effective trading state of a group (the strictest of its own, its session's and the global one)."""
        level = max(self.global_state[0], self.session_state[0])
        if group_id is not None:
            own = self.groups.get(group_id)
            if own is not None and own[0] > level:
                level = own[0]
        return STATES[level]

    # --- the gate ----------------------------------------------------------------------

    def gate(self, event: dict):
        if not self.escalated:
            return None
        book = self.book
        group_id = event.get("group_id")
        order = book.orders.get(event["order_id"])
        if group_id is None:
            group_id = order.group_id if order is not None and order.group_id is not None else event["order_id"]
        level, rule, scope = self.global_state[0], self.global_state[1], "all trading"
        session = self.session_state
        if session[0] > level:
            level, rule, scope = session[0], session[1], "this session's trading"
        own = self.groups.get(group_id)
        if own is not None and own[0] > level:
            level, rule, scope = own[0], own[1], f"group {group_id!r}"
        if level == 0:
            return None
        if level == 2:
            return (BLOCK, self.name, rule, f"{scope} halted (rule {rule}): only cancels pass")
        role = event.get("role") if event["type"] == "intent" else (order.role if order is not None else None)
        if role == "hedge":
            return None
        return (BLOCK, self.name, rule, f"{scope} reducing (rule {rule}): only hedges and cancels pass")

    # --- escalating ---------------------------------------------------------------------

    def on_alert(self, alert: dict[str, Any], after_terminal: bool) -> None:
        rules = self.by_kind.get(alert["kind"])
        if not rules:
            return
        rank = SEVERITY_RANK.get(alert["severity"], 0)
        for rule in rules:
            if rule.get("after_terminal") and not after_terminal:
                continue
            minimum = rule.get("min_severity")
            if minimum is not None and rank < SEVERITY_RANK.get(minimum, 0):
                continue
            if rule["scope"] == "all":
                self._raise(self.global_state, None, rule, alert)
            elif rule["scope"] == "session":
                self._raise(self.session_state, None, rule, alert, "this session's trading")
            else:
                key = alert["group_id"] if alert["group_id"] is not None else alert["order_id"]
                if key is None:
                    continue
                state = self.groups.get(key)
                if state is None:
                    state = self.groups[key] = [0, None, None]
                self._raise(state, key, rule, alert)

    def _raise(self, state: list[Any], group_id: str | None, rule: dict[str, Any], cause: dict[str, Any],
               scope: str | None = None) -> None:
        scope = scope or ("all trading" if group_id is None else f"group {group_id!r}")
        level = LEVEL[rule["to"]]
        book = self.book
        if level == state[0] and state[1] == rule["id"] and rule.get("clear_after_ns") is not None:
            # a new trigger of the episode's own rule: the clear is counted from it (the old timer is moot)
            state[2] = book.now
            book.schedule(book.now + rule["clear_after_ns"], self._clear, (state, group_id, rule["id"], book.now, scope))
            return
        if level <= state[0]:
            return
        state[0], state[1], state[2] = level, rule["id"], book.now
        self.escalated = True
        book.alert(
            rule["to"], ESCALATION_SEVERITY[rule["to"]], self.name, cause["order_id"], group_id,
            f"{scope} -> {rule['to']} by rule {rule['id']} after {cause['kind']}: {cause['detail']}",
        )
        if rule.get("clear_after_ns") is not None:
            book.schedule(book.now + rule["clear_after_ns"], self._clear, (state, group_id, rule["id"], book.now, scope))

    def _clear(self, episode: tuple, deadline: int) -> None:
        state, group_id, rule_id, since, *named = episode
        if state[1] != rule_id or state[2] != since:
            return
        state[0], state[1], state[2] = 0, None, None
        scope = named[0] if named else ("all trading" if group_id is None else f"group {group_id!r}")
        self.book.alert("resumed", "info", self.name, None, group_id, f"{scope} back to active: rule {rule_id} cleared")

    def evicted(self, order: Any) -> None:
        """An evicted order's group forgets an ``active`` entry, never a raised one; an order with no
        group takes its own entry with it, whatever its level (nothing acts under an evicted id again)."""
        if order.group_id is None:
            self.groups.pop(order.order_id, None)
            return
        state = self.groups.get(order.group_id)
        if state is not None and state[0] == 0:
            del self.groups[order.group_id]

    def use_session(self, key: Hashable, traits: SessionTraits = LIVE) -> None:
        """Scope ``session`` follows the broker session: another log's skew does not slow this one."""
        if key != self.session:
            self.session = key
            self.session_state = self.sessions.setdefault(key, [0, None, None])

    def state(self) -> dict[str, Any]:
        return {"groups": {key: list(s) for key, s in self.groups.items()}, "all": list(self.global_state),
                "escalated": self.escalated, "session": self.session,
                "sessions": [[key, list(s)] for key, s in self.sessions.items()]}

    def restore(self, state: dict[str, Any]) -> None:
        self.groups = {key: list(s) for key, s in state["groups"].items()}
        self.global_state[:] = state["all"]
        self.escalated = state["escalated"]
        self.session = state.get("session")
        self.sessions = {key: list(s) for key, s in state.get("sessions", [[None, [0, None, None]]])}
        self.session_state = self.sessions.setdefault(self.session, [0, None, None])

    def snapshot(self) -> dict[str, Any]:
        return {
            "all": STATES[max(self.global_state[0], self.session_state[0])],
            "groups": {key: {"state": STATES[s[0]], "rule": s[1]} for key, s in self.groups.items() if s[0]},
        }
