"""Builders of consistent canonical events and engines for the engine and guard tests."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from safeguards import Engine  # the compiled core: the product's engine
from safeguards.policy import CompiledPolicy, compile_text

REFERENCE = Path(__file__).resolve().parents[1] / "rules" / "multileg_options.yaml"
S = 1_000_000_000
MS = 1_000_000
T0 = 1_771_684_200 * S  # 2026-02-21T14:30:00Z
LATENCY = 1 * MS


@lru_cache(maxsize=None)
def reference_policy() -> CompiledPolicy:
    return compile_text(REFERENCE.read_text("utf-8"), str(REFERENCE))


def policy_with(**sections: Any) -> CompiledPolicy:
    """The reference policy with some keys replaced: policy_with(clock={"timeouts": {"fill": "10s"}})."""
    data = yaml.safe_load(REFERENCE.read_text("utf-8"))

    def merge(into: dict, changes: dict) -> None:
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = copy.deepcopy(value)

    merge(data, sections)
    return compile_text(yaml.safe_dump(data, sort_keys=False), "<test policy>")


def engine(policy: CompiledPolicy | None = None) -> Engine:
    return Engine(policy or reference_policy())


class Stream:
    """Makes events whose broker time advances by ``step`` ns per event, recv = broker + 1 ms."""

    def __init__(self, start: int = T0, step: int = MS) -> None:
        self.t = start
        self.step = step
        self.count = 0
        #: Each order's highest cum_qty made so far: a fill's last_qty is what it adds, as a broker reports it.
        self.cum: dict[str, float] = {}

    def _stamp(self) -> int:
        self.t += self.step
        return self.t

    def _id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def quote(self, symbol: str = "SPX", bid_qty: float = 100, ask_qty: float = 100, **extra: Any) -> dict:
        t = self._stamp()
        return {"source": "market", "type": "quote", "symbol": symbol, "bid_px": 1.0, "bid_qty": bid_qty,
                "ask_px": 1.1, "ask_qty": ask_qty, "broker_ts": t, "recv_ts": t + LATENCY, **extra}

    def intent(self, order_id: str, group_id: str = "g1", role: str = "leg", symbol: str = "SPX",
               side: str = "buy", qty: float = 10, parent_id: str | None = None, **extra: Any) -> dict:
        t = self._stamp()
        event = {"source": "local", "type": "intent", "event_id": self._id("i"), "order_id": order_id,
                 "group_id": group_id, "role": role, "symbol": symbol, "side": side, "qty": qty,
                 "recv_ts": t + LATENCY, **extra}
        if parent_id is not None:
            event["parent_id"] = parent_id
        return event

    def submit(self, order_id: str, **extra: Any) -> dict:
        t = self._stamp()
        return {"source": "local", "type": "submit", "event_id": self._id("s"), "order_id": order_id,
                "recv_ts": t + LATENCY, **extra}

    def cancel(self, order_id: str, **extra: Any) -> dict:
        t = self._stamp()
        return {"source": "local", "type": "cancel_request", "event_id": self._id("c"), "order_id": order_id,
                "recv_ts": t + LATENCY, **extra}

    def broker(self, type_: str, order_id: str, cum: float | None = 0, leaves: float | None = 10,
               last: float | None = None, **extra: Any) -> dict:
        t = self._stamp()
        event = {"source": "broker", "type": type_, "event_id": self._id("b"), "order_id": order_id,
                 "broker_ts": t, "recv_ts": t + LATENCY}
        if type_ != "cancel_rejected":
            event["cum_qty"] = cum
            event["leaves_qty"] = leaves
        if type_ in ("partial_fill", "fill"):
            made = self.cum.get(order_id, 0)
            event["last_qty"] = last if last is not None else max(cum - made, 0)
            event["last_px"] = 1.1
        if cum is not None and cum > self.cum.get(order_id, 0):
            self.cum[order_id] = cum
        event.update(extra)
        return event


def run(eng: Engine, events: list[dict]) -> tuple[list[dict], list[dict]]:
    return eng.process_batch(events)


def verdicts(decisions: list[dict]) -> list[str]:
    return [d["verdict"] for d in decisions]


def kinds(alerts: list[dict]) -> list[str]:
    return [a["kind"] for a in alerts]


def working_order(s: Stream, order_id: str = "o1", group_id: str = "g1", qty: float = 10) -> list[dict]:
    """Intent, submit and ack of one leg order."""
    return [s.intent(order_id, group_id, qty=qty), s.submit(order_id), s.broker("new", order_id, 0, qty)]
