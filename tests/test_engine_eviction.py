"""Eviction: long-finished orders leave the book, late events for them are stale, checkpoints keep it all.

The book is read through the checkpoint (``state()["book"]``: orders, the
finished ones' queue, evicted ids, the eviction count; docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json

from typing import Any

from safeguards import Engine
from tests.eventkit import S, Stream, kinds, policy_with, run, verdicts, working_order

WINDOW = 60 * S


def short_window(max_keys: int = 1000):
    """The reference policy with a 60 s dedup window (the retention of finished orders)."""
    return policy_with(idempotency={"window": "60s", "max_keys": max_keys})


def book(eng: Engine) -> dict[str, Any]:
    """The book's part of the checkpoint."""
    return eng.state()["book"]


def filled_order(s: Stream, order_id: str, group_id: str, qty: float = 10) -> list[dict]:
    return [*working_order(s, order_id, group_id, qty), s.broker("fill", order_id, qty, 0)]


def test_book_stays_bounded_over_a_run_spanning_many_windows():
    eng = Engine(short_window(max_keys=100_000))
    s = Stream(step=S)  # one event per second of broker time: 10 windows over the run
    peak = 0
    for n in range(150):
        run(eng, filled_order(s, f"o{n}", f"g{n}"))
        eng.pop_alerts()
        peak = max(peak, len(book(eng)["orders"]))
    assert book(eng)["evictions"] > 100
    assert peak <= 20  # about one window's worth (60 s / 4 events per order), never all 150
    assert len(eng.snapshot()["guards"]["hedging"]["groups"]) <= 20
    assert len(book(eng)["finished"]) <= 80


def test_live_orders_are_never_evicted():
    eng = Engine(short_window())
    s = Stream(step=S)
    run(eng, working_order(s, "live", "gl"))
    for n in range(60):
        run(eng, filled_order(s, f"o{n}", f"g{n}"))
    assert eng.order("live")["state"] == "new"
    assert eng.order("o0") is None and book(eng)["evictions"] > 0


def test_an_event_for_a_finished_order_restarts_its_retention():
    eng = Engine(short_window())
    s = Stream(step=S)
    run(eng, filled_order(s, "o1", "g1"))
    s.t += 50 * S
    decision = eng.process(s.broker("fill", "o1", 10, 0))  # a stale re-report: still an event of o1
    assert decision["verdict"] == "stale"
    s.t += 50 * S
    eng.advance(s.t)
    assert eng.order("o1") is not None  # 100 s after the fill, but only 50 s after its last event
    eng.advance(s.t + 11 * S)
    assert eng.order("o1") is None


def evicted_o1() -> tuple[Engine, Stream]:
    """An engine that filled order o1 (group g1) and has since evicted it; the stream is past the window."""
    eng = Engine(short_window())
    s = Stream(step=S)
    run(eng, filled_order(s, "o1", "g1"))
    eng.pop_alerts()
    eng.advance(s.t + WINDOW + S)
    assert eng.order("o1") is None and "o1" in book(eng)["evicted"]
    s.t += WINDOW + 2 * S
    return eng, s


def test_late_fill_for_an_evicted_order_is_real_exposure_not_an_orphan():
    eng, s = evicted_o1()
    decision = eng.process(s.broker("fill", "o1", 10, 0))
    assert (decision["verdict"], decision["guard"], decision["rule"]) == ("reject", "intents", "evicted_order")
    assert "check the position" in decision["reason"]
    alerts = eng.pop_alerts()
    assert [(a["kind"], a["severity"]) for a in alerts][:1] == [("illegal_transition", "critical")]
    assert "orphan_order" not in {a["kind"] for a in alerts}
    assert eng.order("o1") is None  # not adopted back


def test_late_broker_event_for_an_evicted_order_is_stale_not_an_orphan():
    eng, s = evicted_o1()
    decision = eng.process(s.broker("canceled", "o1", 10, 0))
    assert (decision["verdict"], decision["guard"], decision["rule"]) == ("stale", "intents", "evicted_order")
    assert "evicted" in decision["reason"]
    assert eng.pop_alerts() == [] and eng.trading_state("g1") == "active"
    assert eng.order("o1") is None  # not adopted back
    decisions, _ = run(eng, [s.intent("o1", "g1"), s.submit("o1"), s.cancel("o1")])
    assert verdicts(decisions) == ["block", "block", "accept"]
    assert [d["rule"] for d in decisions] == ["one_intent_per_order", "submit_once", "cancel_allowed"]


def test_evicted_ids_are_bounded_like_the_dedup_keys():
    eng = Engine(short_window(max_keys=5))
    s = Stream(step=S)
    for n in range(60):
        run(eng, filled_order(s, f"o{n}", f"g{n}"))
    assert book(eng)["evictions"] > 5 and len(book(eng)["evicted"]) == 5


def test_a_halted_group_keeps_its_state_when_its_orders_are_evicted():
    eng = Engine(short_window())
    s = Stream(step=S)
    _, alerts = run(eng, [*filled_order(s, "o1", "gh"), *working_order(s, "o2", "gh"),
                          s.broker("canceled", "o2", 0, 0), s.broker("fill", "o2", 5, 0)])
    assert "halted" in kinds(alerts)  # a fill after canceled halts the group
    assert eng.trading_state("gh") == "halted"
    eng.advance(s.t + 2 * WINDOW)
    assert eng.order("o1") is None and eng.order("o2") is None
    assert eng.trading_state("gh") == "halted"
    decision = eng.process(s.intent("o3", "gh"))
    assert decision["verdict"] == "block" and decision["guard"] == "escalation"


def test_an_active_group_whose_orders_are_all_evicted_is_dropped():
    eng = Engine(short_window())
    s = Stream(step=S)
    run(eng, [*filled_order(s, "a", "g1"), *filled_order(s, "b", "g1")])
    assert "g1" in eng.snapshot()["guards"]["hedging"]["groups"]
    eng.advance(s.t + WINDOW + S)
    assert "g1" not in eng.snapshot()["guards"]["hedging"]["groups"]


def _feed(eng: Engine, events: list[dict]) -> list:
    out: list = []
    for event in events:
        out.append(eng.process(dict(event)))
        out.extend(eng.pop_alerts())
    return out


def test_state_round_trip_continues_eviction_identically():
    policy = short_window()
    s = Stream(step=S)
    events: list[dict] = []
    for n in range(40):
        events += filled_order(s, f"o{n}", f"g{n % 7}")
    events.append(s.broker("fill", "o0", 10, 0))  # late, after o0 is evicted
    events += working_order(s, "o0", "g0")  # id reuse: blocked
    for split in (0, 50, 97, 130, len(events)):
        whole = Engine(policy)
        expected = _feed(whole, events)
        first = Engine(policy)
        head = _feed(first, events[:split])
        resumed = Engine.from_state(policy, json.loads(json.dumps(first.state())))
        assert head + _feed(resumed, events[split:]) == expected
        assert resumed.state() == whole.state()
    assert book(whole)["evictions"] > 0
    assert any(d.get("rule") == "evicted_order" for d in expected if "verdict" in d)
