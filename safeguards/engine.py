"""The engine: every event through the safeguards, exactly one decision out.

Built once from a compiled policy: each guard contributes steps, and the engine
sorts them into one pipeline per event type, fused into one generated function
(:mod:`.pipeline`), so the hot path is a check (:func:`~.screening.check_event`:
one generated checker per event shape, which also parses each timestamp once),
a dict lookup and a few function calls, with one small dict built per decision.
Alerts raised along the way (by guards, by escalation, by timers firing as
broker time passes) are buffered and taken with :meth:`Engine.pop_alerts`.

Decision: ``{seq, event_id, order_id, group_id, verdict, guard, rule, reason, policy}``.
Alert: ``{kind, severity, guard, seq, order_id, group_id, broker_ts, detail}``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .book import Book, Order
from .errors import EngineError, EventError
from .escalation import Escalation
from .events import parse_timestamp
from .pipeline import build_pipelines, fuse
from .screening import check_event
from .session import LIVE, SessionTraits
from .guards import GUARD_CLASSES, ClockGuard
from .guards.base import ACCEPT, INVALID, VERDICTS, Guard
from .guards.base import Decision as Outcome  # (verdict, guard, rule, reason): before the event's ids are added
from .policy import CompiledPolicy, load_policy

Decision = dict[str, Any]
Alert = dict[str, Any]

_NO_OBJECTION = (ACCEPT, "engine", None, "no safeguard objected")


class Engine:
    """Five safeguards (and escalation) composed over one shared :class:`Book`.

    ``policy`` is a :class:`CompiledPolicy` or the path of a YAML or compiled
    JSON policy. Not thread-safe: one engine per event stream.
    """

    def __init__(self, policy: CompiledPolicy | str | Path, guards: Sequence[type[Guard]] = GUARD_CLASSES) -> None:
        if isinstance(policy, (str, Path)):
            policy = load_policy(policy)
        if not isinstance(policy, CompiledPolicy):
            raise EngineError(f"expected a CompiledPolicy or a policy path, got {type(policy).__name__}")
        self.policy = policy
        self.identity: str = policy.identity
        tables = policy.tables
        self.book = Book(self.identity)
        self.book.retain_ns, self.book.max_evicted = retention(tables)
        self.book.max_orders = self.book.max_evicted
        self.book.terminal = frozenset(tables["ordering"]["terminal"])
        self.guards: list[Guard] = [cls(tables, self.book) for cls in guards]
        self.escalation = Escalation(tables, self.book)
        #: The engine owns time: before the guards' steps, this moves broker time to the event's trusted time.
        self._move_time = next(guard for guard in self.guards if isinstance(guard, ClockGuard)).move_time
        #: Each event type's steps, in order, and the same fused into one function (see :mod:`.pipeline`).
        self.pipelines = build_pipelines([*self.guards, self.escalation])
        self._runners = {type_: fuse(steps, _NO_OBJECTION) for type_, steps in self.pipelines.items()}
        self.counts: dict[str, int] = dict.fromkeys(VERDICTS, 0)
        self.alert_counts: dict[str, int] = {}
        self.arrivals = 0

    # --- events ----------------------------------------------------------------------

    def process(self, event: Any) -> Decision:
        """Decide one canonical event (a plain dict); never raises for bad input."""
        try:
            reason, broker_ts, recv_ts, fields = check_event(event)  # validated, each timestamp parsed once
        except Exception as error:  # the check promises not to raise; be safe anyway
            reason = f"could not validate: {error!r}"
        if reason is not None:
            return self.invalid(event, reason)
        return self._decide(event, broker_ts, recv_ts, fields)

    def process_stored(self, event: dict[str, Any], fields: tuple[str, ...]) -> Decision:
        """Decide an event read back from the event store, skipping the schema screen.

        The store only holds events that passed :func:`~.events.validate_event` at
        ingest (the rest are in ``rejected_rows``), so the backtest need not pay for
        the check twice. ``event`` has its timestamps as int ns; ``fields`` names its
        canonical fields that are present and not None, in canonical order. An event
        that breaks this promise cannot crash the engine: a step that fails on it
        makes the decision ``invalid``.
        """
        return self._decide(event, event.get("broker_ts"), event.get("recv_ts"), fields)

    def decide_stored(self, events: Sequence[dict[str, Any]],
                      fields: Sequence[tuple[str, ...]]) -> tuple[list[Outcome], list[str | None]]:
        """The backtest's bulk path: :meth:`process_stored` for many events, without a dict per decision.

        Returns each event's outcome ``(verdict, guard, rule, reason)`` (the guards'
        own tuples, mostly shared, so a writer can dictionary-encode them) and its
        group (its own ``group_id``, else its order's, as in a decision). The
        event's ``seq``, ``event_id`` and ``order_id`` complete the decision.
        Events of several broker sessions (a store's logs): call :meth:`use_session`
        before each stretch of one session's events.
        """
        book, runners, counts, move_time = self.book, self._runners, self.counts, self._move_time
        orders = book.orders
        outcomes: list[Outcome] = []
        groups: list[str | None] = []
        add_outcome, add_group = outcomes.append, groups.append
        arrivals = self.arrivals
        try:
            for event, named in zip(events, fields):  # _decide's pipeline, inlined: a call per event is a tenth of the work here
                arrivals += 1
                seq = event.get("seq")
                book.seq = arrivals if seq is None else seq
                book.bts = event.get("broker_ts")
                book.rts = event.get("recv_ts")
                book.fields = named
                try:
                    move_time(event["source"])
                    outcome = runners[event["type"]](event)
                except Exception as error:  # bad input must never crash the engine
                    outcome = (INVALID, "engine", None, f"could not process this event: {error!r}")
                counts[outcome[0]] += 1
                add_outcome(outcome)
                group_id = event.get("group_id")
                if group_id is None:  # book.group_of, inlined: the order's group
                    order = orders.get(event.get("order_id"))
                    if order is not None:
                        group_id = order.group_id
                add_group(group_id)
                if len(orders) > book.max_orders:
                    book.evict_overflow()
        finally:
            self.arrivals = arrivals
            book.bts = book.fields = None
        return outcomes, groups

    def _decide(self, event: dict[str, Any], broker_ts: int | None, recv_ts: int | None, fields: tuple[str, ...] | None) -> Decision:
        """The guards' pipeline for one valid event: its one decision.

        :meth:`decide_stored` runs the same pipeline inline in its loop: change both together.
        """
        book = self.book
        self.arrivals += 1
        seq = event.get("seq")
        if seq is None:
            seq = self.arrivals
        book.seq = seq
        book.bts = broker_ts
        book.rts = recv_ts
        book.fields = fields
        try:
            self._move_time(event["source"])
            outcome = self._runners[event["type"]](event)
        except Exception as error:  # bad input must never crash the engine
            outcome = (INVALID, "engine", None, f"could not process this event: {error!r}")
        book.bts = book.fields = None
        verdict = outcome[0]
        self.counts[verdict] += 1
        order_id = event.get("order_id")
        group_id = event.get("group_id")
        if group_id is None and order_id is not None:  # book.group_of, inlined: this is the hot path
            order = book.orders.get(order_id)
            if order is not None:
                group_id = order.group_id
        if len(book.orders) > book.max_orders:
            book.evict_overflow()
        return {
            "seq": seq,
            "event_id": event.get("event_id"),
            "order_id": order_id,
            "group_id": group_id,
            "verdict": verdict,
            "guard": outcome[1],
            "rule": outcome[2],
            "reason": outcome[3],
            "policy": self.identity,
        }

    def invalid(self, event: Any, reason: str) -> Decision:
        """Record a malformed input (bad JSON, bad field) and return its ``invalid`` decision."""
        self.arrivals += 1
        self.counts[INVALID] += 1
        fields = event if isinstance(event, dict) else {}

        def text(name: str) -> str | None:
            value = fields.get(name)
            return value if isinstance(value, str) else None

        seq = fields.get("seq")
        return {
            "seq": seq if type(seq) is int else self.arrivals,
            "event_id": text("event_id"),
            "order_id": text("order_id"),
            "group_id": text("group_id"),
            "verdict": INVALID,
            "guard": "schema",
            "rule": "canonical_event",
            "reason": reason,
            "policy": self.identity,
        }

    def process_batch(self, events: Iterable[Any]) -> tuple[list[Decision], list[Alert]]:
        """Decide many events; return their decisions (in order) and every alert raised."""
        process = self.process
        decisions = [process(event) for event in events]
        return decisions, self.pop_alerts()

    def pop_alerts(self) -> list[Alert]:
        """The alerts raised since the last call, oldest first."""
        alerts = self.book.alerts
        if not alerts:
            return []
        self.book.alerts = []
        counts = self.alert_counts
        for alert in alerts:
            counts[alert["kind"]] = counts.get(alert["kind"], 0) + 1
        return alerts

    # --- start-up ---------------------------------------------------------------------

    def reconcile(self, open_orders: list[dict[str, Any]]) -> list[Alert]:
        """Compare the broker's open orders (order_id, broker_order_id, status, cum_qty) with ours; the findings.

        Deterministic, so a journal replays it: see ``intents.recovery`` and
        :meth:`~.guards.intents.IntentsGuard.reconcile`.
        """
        intents = next(guard for guard in self.guards if guard.name == "intents")
        self.book.seq = self.arrivals
        self.book.bts = None
        intents.reconcile(open_orders)  # type: ignore[attr-defined]
        return self.pop_alerts()

    def new_session(self) -> None:
        """The broker's message numbers (``broker_seq``) start over: a new FIX session or trading day.

        Gaps are looked for within a session: without this, the first numbers of
        the new session sit below the old session's last and every gap among them
        goes unseen until the new numbering passes the old. Orders, dedup keys and
        time carry on. ``safeguards run --new-session`` calls it at start-up.
        """
        for guard in (*self.guards, self.escalation):
            guard.new_session()

    def use_session(self, key: Hashable, traits: SessionTraits = LIVE) -> None:
        """Events from here on belong to the broker's session ``key``, which numbers its messages on its own.

        For streams that interleave several numberings (logs of two venues merged
        by arrival): each event's ``broker_seq`` is compared with the last of its
        own session, and a key not seen before starts afresh. Each session also
        has its own clocks (offset window, skew episodes) and its own trading
        state for escalation rules of scope ``session``; ``traits`` says what its
        stamps and contents are (:class:`~.session.SessionTraits`). The backtest
        calls it wherever the next event comes from another log. Orders, dedup
        keys and broker time are shared by all sessions.
        """
        for guard in (*self.guards, self.escalation):
            guard.use_session(key, traits)

    # --- time ------------------------------------------------------------------------

    def advance(self, now: int | str) -> list[Alert]:
        """Live use: broker time is now ``now`` (ns or RFC 3339); fire due timeouts, return alerts."""
        try:
            stamp = now if type(now) is int else parse_timestamp(now)
        except EventError as error:
            raise EngineError(f"advance: {error}") from None
        self.book.advance(stamp)
        return self.pop_alerts()

    def advance_local(self, local_now: int | str) -> list[Alert]:
        """Live use: the local clock says ``local_now``; corrected by the estimated offset."""
        try:
            stamp = local_now if type(local_now) is int else parse_timestamp(local_now)
        except EventError as error:
            raise EngineError(f"advance_local: {error}") from None
        offset = self.book.offset
        return self.advance(stamp - (offset if offset is not None else 0))

    @property
    def now(self) -> int:
        """Broker time in ns since the epoch, as the engine knows it."""
        return self.book.now

    # --- checkpoints ----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the engine holds, JSON-ready: :meth:`from_state` continues exactly as this engine would."""
        return {
            "policy_hash": self.policy.hash, "arrivals": self.arrivals, "counts": dict(self.counts),
            "alert_counts": dict(self.alert_counts), "book": self.book.state(self._encode_timer),
            "guards": {guard.name: guard.state() for guard in (*self.guards, self.escalation)},
        }

    @classmethod
    def from_state(cls, policy: CompiledPolicy | str | Path, state: Mapping[str, Any]) -> Engine:
        """An engine in exactly the state :meth:`state` described (for the same policy)."""
        engine = cls(policy)
        if state.get("policy_hash") != engine.policy.hash:
            raise EngineError(f"state was saved under policy hash {str(state.get('policy_hash'))[:12]}, "
                              f"not {engine.identity}; load it with that policy")
        engine.arrivals = state["arrivals"]
        engine.counts.update(state["counts"])
        engine.alert_counts = dict(state["alert_counts"])
        engine.book.restore(state["book"])
        for guard in (*engine.guards, engine.escalation):
            guard.restore(state["guards"][guard.name])
        timers = [engine._decode_timer(row) for row in state["book"]["timers"]]
        engine.book.set_timers([timer for timer in timers if timer is not None])
        return engine

    def _encode_timer(self, callback: Any, target: Any) -> list[Any]:
        owner = callback.__self__
        if isinstance(target, Order):
            return [owner.name, callback.__name__, "order", target.order_id]
        if owner is self.escalation:
            state, group_id, rule_id, since, *scope = target
            sessions = [key for key, held in self.escalation.sessions.items() if held is state]
            if sessions:  # a session's episode: which session
                return [owner.name, callback.__name__, "session_episode", [sessions[0], rule_id, since, *scope]]
            return [owner.name, callback.__name__, "episode", [group_id, rule_id, since]]
        return [owner.name, callback.__name__, "value", list(target)]

    def _decode_timer(self, row: list[Any]) -> tuple | None:
        deadline, count, owner_name, method, kind, payload = row
        owner = next(g for g in (*self.guards, self.escalation) if g.name == owner_name)
        if kind == "order":
            target: Any = self.book.orders.get(payload)
            if target is None:  # evicted since: its timers were moot
                return None
        elif kind == "session_episode":
            session, rule_id, since, *scope = payload
            target = (self.escalation.sessions.setdefault(session, [0, None, None]), None, rule_id, since, *scope)
        elif kind == "episode":
            group_id, rule_id, since = payload
            # a group back to active may have been dropped with its evicted orders: its episode is moot
            scope = self.escalation.global_state if group_id is None else self.escalation.groups.get(group_id, [0, None, None])
            target = (scope, group_id, rule_id, since)
        else:
            target = tuple(payload)
        return (deadline, count, getattr(owner, method), target)

    # --- reading state ---------------------------------------------------------------

    def order(self, order_id: str) -> dict[str, Any] | None:
        """What the engine knows about an order (state, cum_qty, ...), or None."""
        order = self.book.orders.get(order_id)
        return None if order is None else order.to_dict()

    def trading_state(self, group_id: str | None = None) -> str:
        """``active``, ``reducing`` or ``halted``: for a group, or for everything if None."""
        return self.escalation.state_of(group_id)

    def group(self, group_id: str) -> dict[str, Any]:
        """A group's trading state and its orders (a scan: not for the hot path)."""
        orders = {o.order_id: o.to_dict() for o in self.book.orders.values() if o.group_id == group_id}
        return {"group_id": group_id, "trading_state": self.trading_state(group_id), "orders": orders}

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready picture of the whole engine (for operators, tests and journals)."""
        return {
            "policy": self.identity,
            "now": self.book.now,
            "offset_ns": self.book.offset,
            "arrivals": self.arrivals,
            "verdicts": dict(self.counts),
            "alerts": dict(self.alert_counts),
            "trading": self.escalation.snapshot(),
            "orders": {order_id: order.to_dict() for order_id, order in self.book.orders.items()},
            "guards": {guard.name: guard.snapshot() for guard in self.guards},
        }


def retention(tables: Mapping[str, Any]) -> tuple[int, int]:
    """How long finished orders stay in the book, and how many evicted ids are remembered.

    The idempotency window (a re-sent event inside it is a duplicate anyway), but
    never less than the longest timeout, so no timer outlives its order; the dedup
    key bound also bounds the evicted ids.
    """
    config = tables["idempotency"]
    timeouts = tables.get("clock", {}).get("timeouts_ns", {})
    return max([int(config["window_ns"]), *(int(v) for v in timeouts.values() if v is not None)]), int(config["max_keys"])


def build_engine(policy: CompiledPolicy | str | Path | Mapping[str, Any]) -> Engine:
    """An engine from a compiled policy, a policy path, or compiled tables."""
    if isinstance(policy, Mapping):
        policy = CompiledPolicy.from_tables(dict(policy))
    return Engine(policy)
