"""How an order executor wires the safeguards engine in (run: python examples/guarded_executor.py).

A toy trading system with the three parts the engine protects:

* a multi-leg order group (a vertical spread: buy one call, sell another),
* an emergency hedge executor that covers a leg left unfilled,
* a stop-loss manager watching quotes.

At every step the executor asks the engine first: it records the intent and
submits only after ``accept``, passes every broker event through, asks before
each emergency hedge, and stops when its group is halted. The broker here is a
script of events (with a duplicate delivery and a partial hedge fill that
needs a hedge of its own), so the run is deterministic.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from safeguards import Engine

POLICY = Path(__file__).resolve().parents[1] / "rules" / "multileg_options.yaml"
MS = 1_000_000
START = 1_771_684_200_000_000_000  # 2026-02-21T14:30:00Z


class ScriptedBroker:
    """Stands in for the venue: answers each submit with the events the script says."""

    def __init__(self) -> None:
        self.clock = START
        self.ids = itertools.count(1)
        self.sent: list[str] = []

    def _event(self, type_: str, order_id: str, cum: float, leaves: float, last: float | None = None) -> dict:
        self.clock += 5 * MS
        event = {"source": "broker", "type": type_, "event_id": f"x{next(self.ids)}", "order_id": order_id,
                 "cum_qty": cum, "leaves_qty": leaves, "broker_ts": self.clock, "recv_ts": self.clock + MS}
        if type_ in ("partial_fill", "fill"):
            event.update(last_qty=last if last is not None else cum, last_px=1.25)
        return event

    def quote(self, symbol: str, bid_qty: float, ask_qty: float) -> dict:
        self.clock += MS
        return {"source": "market", "type": "quote", "symbol": symbol, "bid_px": 1.2, "bid_qty": bid_qty,
                "ask_px": 1.3, "ask_qty": ask_qty, "broker_ts": self.clock, "recv_ts": self.clock + MS}

    def submit(self, order_id: str, qty: float) -> list[dict]:
        """The venue's answer: legs fill, except the short call which only half fills; hedges fill partially."""
        self.sent.append(order_id)
        ack = self._event("new", order_id, 0, qty)
        if order_id == "spread-long":
            fill = self._event("fill", order_id, qty, 0)
            return [ack, fill, dict(fill, recv_ts=fill["recv_ts"] + 3 * MS, poss_dup=True)]  # re-sent: a duplicate
        half = qty // 2
        return [ack, self._event("partial_fill", order_id, half, qty - half), self._event("canceled", order_id, half, 0)]


class GuardedExecutor:
    """The trading system's order path with the engine asked at every step."""

    def __init__(self, engine: Engine, broker: ScriptedBroker) -> None:
        self.engine = engine
        self.broker = broker
        self.log: list[str] = []
        self.alerts: list[dict] = []
        self.ids = itertools.count(1)

    def ask(self, event: dict) -> dict:
        decision = self.engine.process(event)
        self.alerts += self.engine.pop_alerts()
        self.log.append(f"{event['type']:<14} {event.get('order_id') or event.get('symbol'):<14} -> "
                        f"{decision['verdict']} ({decision['guard']}: {decision['reason']})")
        return decision

    def halted(self, group_id: str) -> bool:
        return self.engine.trading_state(group_id) == "halted"

    def place(self, group_id: str, order_id: str, symbol: str, side: str, qty: float, role: str = "leg",
              parent_id: str | None = None) -> dict | None:
        """Intent first (durable before submit, in production with a journal), submit only on accept."""
        self.broker.clock += MS
        now = self.broker.clock
        intent = {"source": "local", "type": "intent", "event_id": f"local-{next(self.ids)}", "order_id": order_id,
                  "group_id": group_id, "role": role, "symbol": symbol, "side": side, "qty": qty, "recv_ts": now}
        if parent_id is not None:
            intent["parent_id"] = parent_id
        if self.ask(intent)["verdict"] != "accept":
            return None
        submit = {"source": "local", "type": "submit", "event_id": f"local-{next(self.ids)}",
                  "order_id": order_id, "recv_ts": now}
        if self.ask(submit)["verdict"] != "accept":
            return None
        for event in self.broker.submit(order_id, qty):  # every broker event goes through the engine
            self.ask(event)
        return self.engine.order(order_id)


class EmergencyHedger:
    """Covers what a leg left open; each hedge is asked for, and may itself need a hedge."""

    def __init__(self, executor: GuardedExecutor) -> None:
        self.executor = executor

    def cover(self, group_id: str, order_id: str, symbol: str, side: str) -> None:
        parent = order_id
        while not self.executor.halted(group_id):
            order = self.executor.engine.order(parent)
            missing = order["qty"] - order["cum_qty"]
            if missing <= 0:
                return
            hedge_id = f"hedge-{parent}"
            if self.executor.place(group_id, hedge_id, symbol, side, missing, role="hedge", parent_id=parent) is None:
                return  # blocked: too deep, no liquidity or halted; a person takes over
            parent = hedge_id


class StopLossManager:
    """Watches quotes through the engine; cancels working orders when the stop is crossed."""

    def __init__(self, executor: GuardedExecutor, stop_bid_qty: float) -> None:
        self.executor = executor
        self.stop_bid_qty = stop_bid_qty

    def on_quote(self, quote: dict, working: list[str]) -> None:
        self.executor.ask(quote)
        if quote["bid_qty"] < self.stop_bid_qty:
            for order_id in working:  # cancels pass even when the group is halted
                self.executor.ask({"source": "local", "type": "cancel_request", "event_id": f"stop-{order_id}",
                                   "order_id": order_id, "recv_ts": self.executor.broker.clock})


def main(verbose: bool = True) -> dict:
    engine = Engine(POLICY)
    broker = ScriptedBroker()
    executor = GuardedExecutor(engine, broker)
    hedger = EmergencyHedger(executor)
    stops = StopLossManager(executor, stop_bid_qty=5)

    stops.on_quote(broker.quote("SPX-C-5000", bid_qty=400, ask_qty=400), working=[])
    executor.place("spread-1", "spread-long", "SPX-C-5000", "buy", 10)
    short = executor.place("spread-1", "spread-short", "SPX-C-5050", "sell", 10)
    stops.on_quote(broker.quote("SPX-C-5050", bid_qty=400, ask_qty=400), working=[])
    if short is not None and short["cum_qty"] < short["qty"]:
        hedger.cover("spread-1", "spread-short", "SPX-C-5050", "sell")
    stops.on_quote(broker.quote("SPX-C-5050", bid_qty=2, ask_qty=400), working=["spread-short"])
    refused = executor.place("spread-1", "spread-again", "SPX-C-5050", "sell", 1)

    summary = {
        "trading_state": engine.trading_state("spread-1"),
        "sent_to_broker": broker.sent,
        "verdicts": {k: v for k, v in engine.counts.items() if v},
        "alerts": [a["kind"] for a in executor.alerts],
        "new_order_after_halt_refused": refused is None,
        "long_leg_filled_once": engine.order("spread-long")["cum_qty"] == 10,
    }
    if verbose:
        print("\n".join(executor.log))
        for key, value in summary.items():
            print(f"{key}: {value}")
    return summary


if __name__ == "__main__":
    main()
