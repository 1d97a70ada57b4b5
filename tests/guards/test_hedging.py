"""Hedging guard: depth through hedges of hedges, liquidity on the side taken, stale quotes, attempts."""

from __future__ import annotations

from tests.eventkit import S, Stream, engine, kinds, policy_with, run, verdicts, working_order


def hedge(s: Stream, order_id: str, parent: str, qty: float = 10, side: str = "sell", **extra):
    return s.intent(order_id, "g1", role="hedge", side=side, qty=qty, parent_id=parent, **extra)


def test_hedge_depth_follows_parent_links_and_blocks_past_the_limit():
    s = Stream()
    eng = engine()
    decisions, alerts = run(eng, [s.quote()] + working_order(s, "leg") + [
        hedge(s, "h1", "leg"), hedge(s, "h2", "h1"), hedge(s, "h3", "h2"),
    ])
    assert verdicts(decisions)[-3:] == ["accept", "accept", "block"]
    assert decisions[-1]["guard"] == "hedging" and decisions[-1]["rule"] == "max_depth"
    assert kinds(alerts) == ["hedge_depth_exceeded", "halted"]
    assert eng.order("h2")["hedge_depth"] == 2
    assert eng.trading_state("g1") == "halted"


def test_liquidity_is_checked_on_the_side_the_hedge_takes():
    s = Stream()
    eng = engine()
    run(eng, [s.quote(bid_qty=10, ask_qty=100)] + working_order(s, "leg"))
    sell = eng.process(hedge(s, "h1", "leg", qty=6, side="sell"))  # takes the bid: 0.5 x 10 = 5
    assert sell["verdict"] == "block" and sell["rule"] == "liquidity_fraction"
    assert kinds(eng.pop_alerts()) == ["insufficient_liquidity"]
    buy = eng.process(hedge(s, "h2", "leg", qty=6, side="buy"))  # takes the ask: 0.5 x 100 = 50
    assert buy["verdict"] == "accept"


def test_hedge_without_a_fresh_quote_is_blocked():
    s = Stream()
    eng = engine()
    run(eng, working_order(s, "leg"))
    none = eng.process(hedge(s, "h1", "leg", symbol="SPX"))
    assert none["verdict"] == "block" and none["rule"] == "quote_max_age"
    eng.process(s.quote())
    s.t += 3 * S
    eng.process(s.broker("partial_fill", "leg", 1, 9))
    old = eng.process(hedge(s, "h2", "leg"))
    assert old["verdict"] == "block" and "old" in old["reason"]
    assert kinds(eng.pop_alerts()) == ["stale_quote", "stale_quote"]


def test_older_quote_arriving_late_does_not_replace_a_fresher_one():
    s = Stream()
    eng = engine()
    old = s.quote(bid_qty=1)
    fresh = s.quote(bid_qty=100)
    run(eng, working_order(s, "leg") + [fresh, old])
    assert eng.process(hedge(s, "h1", "leg", qty=10))["verdict"] == "accept"


def test_hedge_attempts_per_group_are_limited():
    s = Stream()
    eng = engine(policy_with(hedging={"max_attempts_per_group": 2}))
    run(eng, [s.quote()] + working_order(s, "leg"))
    decisions, alerts = run(eng, [hedge(s, f"h{i}", "leg", qty=1) for i in range(3)])
    assert verdicts(decisions) == ["accept", "accept", "block"]
    assert decisions[-1]["rule"] == "max_attempts_per_group"
    assert kinds(alerts) == ["hedge_attempts_exceeded"]


def test_group_left_unhedged_too_long_is_alerted():
    s = Stream()
    eng = engine()
    run(eng, [s.quote()] + working_order(s, "a") + working_order(s, "b") + [s.broker("fill", "a", 10, 0)])
    assert kinds(eng.advance(s.t + 31 * S)) == ["unhedged_timeout"]


def test_hedge_fill_clears_unhedged_exposure():
    s = Stream()
    eng = engine()
    run(eng, [s.quote()] + working_order(s, "a") + working_order(s, "b") + [
        s.broker("fill", "a", 10, 0), hedge(s, "h", "a", qty=5), s.submit("h"), s.broker("fill", "h", 5, 0),
    ])
    assert eng.advance(s.t + 31 * S) == []
