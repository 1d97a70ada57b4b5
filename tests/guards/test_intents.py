"""Intents guard: intent before submit, orphans, ack / cancel / fill timeouts in broker time."""

from __future__ import annotations

from tests.eventkit import MS, S, Stream, engine, kinds, policy_with, run, verdicts, working_order


def test_submit_without_intent_is_blocked_and_alerted():
    s = Stream()
    eng = engine()
    decision = eng.process(s.submit("nope"))
    assert decision["verdict"] == "block" and decision["guard"] == "intents"
    assert decision["rule"] == "required_before_submit"
    assert kinds(eng.pop_alerts()) == ["submit_without_intent"]


def test_second_intent_for_the_same_order_is_blocked():
    s = Stream()
    eng = engine()
    decisions, _ = run(eng, [s.intent("o1"), s.intent("o1")])
    assert verdicts(decisions) == ["accept", "block"]
    assert decisions[1]["rule"] == "one_intent_per_order"


def test_broker_event_for_unknown_order_is_an_orphan_adopted_and_group_halted():
    s = Stream()
    eng = engine()
    decision = eng.process(s.broker("new", "ghost", 0, 5, group_id="gx"))
    assert decision["verdict"] == "accept"
    alerts = eng.pop_alerts()
    assert kinds(alerts) == ["orphan_order", "halted"]
    assert alerts[0]["severity"] == "critical"
    assert eng.order("ghost")["adopted"] is True and eng.order("ghost")["qty"] == 5
    assert eng.trading_state("gx") == "halted"


def test_ack_timeout_fires_while_only_quotes_arrive():
    s = Stream(step=500 * MS)
    eng = engine()
    run(eng, [s.quote(), s.intent("o1"), s.submit("o1")])
    alerts = []
    for _ in range(12):  # six seconds of quotes
        eng.process(s.quote())
        alerts += eng.pop_alerts()
    assert kinds(alerts) == ["ack_timeout"]
    assert alerts[0]["order_id"] == "o1" and alerts[0]["group_id"] == "g1"


def test_ack_timeout_fires_on_advance_and_not_after_an_ack():
    s = Stream()
    eng = engine()
    run(eng, [s.quote(), s.intent("o1"), s.submit("o1"), s.intent("o2", "g2"), s.submit("o2"), s.broker("new", "o2", 0, 10)])
    alerts = eng.advance(s.t + 6 * S)
    assert [(a["kind"], a["order_id"]) for a in alerts] == [("ack_timeout", "o1")]
    assert eng.advance(s.t + 60 * S) == []


def test_advance_accepts_rfc3339_text():
    eng = engine()
    assert eng.advance("2026-02-21T14:30:00Z") == []
    assert eng.now == 1_771_684_200 * S


def test_cancel_timeout_and_none_when_confirmed():
    s = Stream()
    eng = engine()
    run(eng, [s.quote()] + working_order(s, "o1") + working_order(s, "o2", "g2") + [s.cancel("o1"), s.cancel("o2"),
                                                                                  s.broker("canceled", "o2", 0, 0)])
    alerts = eng.advance(s.t + 6 * S)
    assert [(a["kind"], a["order_id"]) for a in alerts] == [("cancel_timeout", "o1")]


def test_fill_timeout_when_the_policy_sets_one():
    s = Stream()
    eng = engine(policy_with(clock={"timeouts": {"fill": "10s"}}))
    run(eng, [s.quote()] + working_order(s))
    assert kinds(eng.advance(s.t + 11 * S)) == ["fill_timeout"]


def test_cancel_of_unknown_order_is_blocked():
    s = Stream()
    eng = engine()
    decision = eng.process(s.cancel("none"))
    assert decision["verdict"] == "block" and decision["guard"] == "intents"
