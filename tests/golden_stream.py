"""A seeded, deliberately messy event stream for pinning the engine's exact behaviour.

It exercises every verdict and most alert kinds: orphans, submits without
intents, swapped and duplicated deliveries, conflicting re-sends, cancels,
replaces, late fills after cancel, overfills, hedges of hedges, stale and thin
quotes, clock skew and future stamps, sequence gaps, RFC 3339 and integer
timestamps, malformed events, and broker-time jumps that fire timeouts.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any

S = 1_000_000_000
MS = 1_000_000
START = 1_771_684_200 * S  # 2026-02-21T14:30:00Z

#: An item is ("event", event) or ("advance", ns): the test feeds both to the engine.
Item = tuple[str, Any]


def _rfc3339(nanos: int, rng: random.Random) -> str:
    """One of several equivalent spellings of ``nanos`` as RFC 3339."""
    seconds, fraction = divmod(nanos, S)
    style = rng.randrange(4)
    if style == 3:  # an explicit +01:00 offset
        moment = datetime.fromtimestamp(seconds, tz=timezone(timedelta(hours=1)))
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}+01:00"
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    head = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if style == 0:
        return f"{head}.{fraction:09d}Z"
    if style == 1:
        return f"{head}.{fraction // 1000:06d}Z"  # microseconds: drops the last digits
    return f"{head}.{fraction // 1000:06d}z"


class _Maker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clock = START
        self.ids = 0
        self.broker_seq = 0

    def stamp(self) -> int:
        self.clock += self.rng.randint(20_000, 3_000_000)
        return self.clock

    def spell(self, nanos: int) -> int | str:
        return _rfc3339(nanos, self.rng) if self.rng.random() < 0.4 else nanos

    def quote(self, symbol: str, size: float = 500) -> dict:
        t = self.stamp()
        return {"source": "market", "type": "quote", "symbol": symbol, "bid_px": 1.2, "bid_qty": size,
                "ask_px": 1.3, "ask_qty": size, "broker_ts": self.spell(t), "recv_ts": self.spell(t + 300_000)}

    def broker(self, type_: str, order_id: str, cum: float | None, leaves: float | None, last: float = 0) -> dict:
        self.ids += 1
        t = self.stamp()
        event: dict[str, Any] = {"source": "broker", "type": type_, "event_id": f"E{self.ids:07d}",
                                 "order_id": order_id, "broker_ts": self.spell(t), "recv_ts": self.spell(t + 300_000)}
        if cum is not None:
            event["cum_qty"] = cum
            event["leaves_qty"] = leaves
        if type_ in ("partial_fill", "fill"):
            event["last_qty"] = last
            event["last_px"] = 1.25
        return event

    def local(self, type_: str, order_id: str, **fields: Any) -> dict:
        self.ids += 1
        return {"source": "local", "type": type_, "event_id": f"L{self.ids:07d}", "order_id": order_id,
                "recv_ts": self.spell(self.stamp() + 300_000), **fields}


def _life(maker: _Maker, rng: random.Random, order_id: str, qty: int) -> list[dict]:
    """One order's broker events along a random path."""
    path = rng.choice(("fill", "fill", "fill", "cancel", "cancel_rejected", "replace", "expire", "reject",
                       "late_fill", "overfill", "fast_fill"))
    if path == "reject":
        return [maker.broker("rejected", order_id, 0, 0)]
    events = [] if path == "fast_fill" else [maker.broker("new", order_id, 0, qty)]
    cum = 0
    for _ in range(rng.randint(0, 3)):
        step = rng.randint(1, max(1, (qty - cum) // 2))
        if cum + step >= qty:
            break
        cum += step
        events.append(maker.broker("partial_fill", order_id, cum, qty - cum, step))
    if path in ("cancel", "late_fill"):
        events.append(maker.broker("pending_cancel", order_id, cum, qty - cum))
        events.append(maker.broker("canceled", order_id, cum, 0))
        if path == "late_fill":
            events.append(maker.broker("fill", order_id, qty, 0, qty - cum))
        return events
    if path == "cancel_rejected":
        events.append(maker.broker("pending_cancel", order_id, cum, qty - cum))
        events.append(maker.broker("cancel_rejected", order_id, None, None))
    elif path == "replace":
        events.append(maker.broker("pending_replace", order_id, cum, qty - cum))
        events.append(maker.broker("replaced", order_id, cum, qty - cum))
    elif path == "expire":
        events.append(maker.broker("expired", order_id, cum, 0))
        return events
    final = qty + 3 if path == "overfill" else qty
    events.append(maker.broker("fill", order_id, final, 0, final - cum))
    return events


def _malformed(maker: _Maker, rng: random.Random, event: dict) -> Any:
    broken = dict(event)
    kind = rng.randrange(8)
    if kind == 0:
        broken.pop("recv_ts", None)
    elif kind == 1:
        broken["qty" if "qty" in broken else "cum_qty"] = -1
    elif kind == 2:
        broken["recv_ts"] = "2026-02-21 14:30:00"  # no offset
    elif kind == 3:
        broken["leaves_qty"] = math.nan
    elif kind == 4:
        broken["source"] = "venue"
    elif kind == 5:
        broken["type"] = "teleport"
    elif kind == 6:
        broken["broker_ts"] = "2026-02-30T10:00:00Z"  # no such day
    else:
        return rng.choice([[1, 2], "text", None, 42])
    return broken


def golden_items(groups: int = 400, seed: int = 20260221) -> list[Item]:
    """The stream: about 40 events per group, with advance() calls mixed in."""
    rng = random.Random(seed)
    maker = _Maker(rng)
    symbols = [f"SPX-{k}" for k in range(6)]
    items: list[Item] = []
    for group in range(1, groups + 1):
        group_id = f"G{group}"
        legs = []
        for leg in range(rng.randint(1, 4)):
            order_id, qty = f"{group_id}-L{leg}", rng.randint(2, 40)
            legs.append((order_id, qty))
            roll = rng.random()
            if roll > 0.04:  # else: an orphan (no intent at all)
                items.append(("event", maker.local("intent", order_id, group_id=group_id, role="leg",
                                                   symbol=rng.choice(symbols), side=rng.choice(("buy", "sell")),
                                                   qty=qty, leg=f"leg{leg}", note="extra field")))
            if roll < 0.97:
                items.append(("event", maker.local("submit", order_id)))
            if roll < 0.03:
                items.append(("event", maker.local("submit", order_id)))  # twice
        if rng.random() < 0.05:
            items.append(("event", maker.local("submit", f"{group_id}-ghost")))
        streams = [_life(maker, rng, order_id, qty) for order_id, qty in legs]
        pending: list[dict] = []
        while any(streams):
            life = rng.choice([s for s in streams if s])
            event = life.pop(0)
            maker.broker_seq += 1 + (rng.random() < 0.02)  # now and then a gap
            event["broker_seq"] = maker.broker_seq
            if rng.random() < 0.3:
                event["group_id"] = group_id
            if rng.random() < 0.05:
                event["account"] = rng.choice(("default", "acct-2"))
            if rng.random() < 0.05 and pending == []:
                pending.append(event)  # delivered late, after the next one
                continue
            items.append(("event", event))
            if pending:
                items.append(("event", pending.pop()))
            roll = rng.random()
            if roll < 0.04:
                items.append(("event", dict(event, recv_ts=maker.spell(maker.stamp()), poss_dup=True)))
            elif roll < 0.05:
                items.append(("event", dict(event, last_px=9.99)))  # conflicting re-send
            elif roll < 0.07:
                items.append(("event", _malformed(maker, rng, event)))
            elif roll < 0.09 and event["type"] in ("new", "partial_fill"):
                items.append(("event", maker.local("cancel_request", event["order_id"])))
            for _ in range(rng.randint(0, 2)):
                items.append(("event", maker.quote(rng.choice(symbols))))
        items.extend(("event", event) for event in pending)
        if group % 3 == 0:
            parent = legs[0][0]
            symbol = rng.choice(symbols)
            if rng.random() < 0.8:
                items.append(("event", maker.quote(symbol, size=rng.choice((4, 40, 500)))))
            for depth in range(rng.randint(1, 4)):  # hedges of hedges: deeper than 2 is blocked
                hedge_id = f"{group_id}-H{depth}"
                items.append(("event", maker.local("intent", hedge_id, group_id=group_id, role="hedge",
                                                   parent_id=parent, symbol=symbol, side=rng.choice(("buy", "sell")),
                                                   qty=rng.choice((3, 15)))))
                items.append(("event", maker.local("submit", hedge_id)))
                if rng.random() < 0.7:
                    items.append(("event", maker.broker("new", hedge_id, 0, 3)))
                    items.append(("event", maker.broker("fill", hedge_id, 3, 0, 3)))
                parent = hedge_id
        roll = rng.random()
        if roll < 0.03 and group > groups * 0.85:  # a late or lying clock (late: it reduces all trading)
            t = maker.stamp()
            skew = rng.choice((2 * S, -S))
            items.append(("event", {"source": "market", "type": "quote", "symbol": symbols[0], "bid_px": 1.0,
                                    "bid_qty": 10, "ask_px": 1.1, "ask_qty": 10, "broker_ts": t - skew,
                                    "recv_ts": t + 300_000}))
        elif roll < 0.08:  # silence: timeouts fire, while only quotes arrive or by advance()
            maker.clock += rng.choice((6 * S, 31 * S, 70 * S))
            if rng.random() < 0.5:
                items.append(("advance", maker.spell(maker.clock)))
            else:
                items.append(("event", maker.quote(symbols[1])))
        if rng.random() < 0.02:
            items.append(("event", {**maker.local("intent", f"{group_id}-seq", group_id=group_id, role="stop",
                                                  symbol=symbols[2], side="sell", qty=1), "seq": 10**6 + group}))
    return items
