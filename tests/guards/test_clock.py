"""Clock guard: offset estimate, skew and future timestamps, and what reducing lets through."""

from __future__ import annotations

from tests.eventkit import MS, S, Stream, engine, kinds, run, verdicts


def test_delayed_event_raises_clock_skew_once_and_reduces_everything():
    s = Stream()
    eng = engine()
    run(eng, [s.quote(), s.quote()])
    late = [s.quote() for _ in range(3)]
    for q in late:
        q["recv_ts"] += 900 * MS
    _, alerts = run(eng, late)
    assert kinds(alerts) == ["clock_skew", "reducing"]
    assert alerts[0]["guard"] == "clock"
    assert eng.trading_state() == "reducing"


def test_reducing_lets_only_hedges_and_cancels_through():
    s = Stream()
    eng = engine()
    run(eng, [s.quote(), s.intent("o1"), s.submit("o1"), s.broker("new", "o1", 0, 10)])
    skewed = s.quote()
    skewed["recv_ts"] += 2 * S
    eng.process(skewed)
    assert eng.trading_state("g1") == "reducing"
    decisions, _ = run(eng, [
        s.intent("o2"),
        s.intent("h1", role="hedge", side="sell", qty=1, parent_id="o1"),
        s.submit("h1"),
        s.cancel("o1"),
    ])
    assert verdicts(decisions) == ["block", "accept", "accept", "accept"]
    assert decisions[0]["guard"] == "escalation" and decisions[0]["rule"] == "reduce_on_clock_skew"


def test_broker_time_in_the_future_is_alerted_and_does_not_move_time():
    s = Stream()
    eng = engine()
    run(eng, [s.quote(), s.quote()])
    before = eng.now
    future = s.quote()
    future["broker_ts"] += 3600 * S
    eng.process(future)
    alerts = eng.pop_alerts()
    assert kinds(alerts)[0] == "clock_skew" and "future" in alerts[0]["detail"]
    assert eng.now < before + S


def test_offset_is_the_minimum_over_recent_samples():
    s = Stream()
    eng = engine()
    run(eng, [s.quote() for _ in range(5)])
    assert eng.snapshot()["offset_ns"] == MS
