"""Idempotency guard: duplicates, conflicting duplicates, window and key bound."""

from __future__ import annotations

from tests.eventkit import MS, S, Stream, engine, kinds, policy_with, run, verdicts, working_order


def test_repeated_broker_event_is_a_duplicate_and_not_applied():
    s = Stream()
    eng = engine()
    fill = s.broker("partial_fill", "o1", 4, 6)
    resend = dict(fill, recv_ts=fill["recv_ts"] + 5, poss_dup=True, broker_seq=99)
    decisions, alerts = run(eng, working_order(s) + [fill, resend])
    assert verdicts(decisions)[-2:] == ["accept", "duplicate"]
    assert decisions[-1]["guard"] == "idempotency"
    assert alerts == []
    assert eng.order("o1")["cum_qty"] == 4


def test_same_event_id_with_different_content_is_a_conflicting_duplicate():
    s = Stream()
    eng = engine()
    fill = s.broker("partial_fill", "o1", 4, 6)
    changed = dict(fill, cum_qty=5, last_qty=5, leaves_qty=5)
    decisions, alerts = run(eng, working_order(s) + [fill, changed])
    assert decisions[-1]["verdict"] == "reject"
    assert decisions[-1]["rule"] == "conflicting_duplicate"
    assert kinds(alerts) == ["conflicting_duplicate", "halted"]
    assert alerts[0]["severity"] == "critical" and alerts[0]["group_id"] == "g1"
    assert eng.order("o1")["cum_qty"] == 4


def test_key_includes_account():
    s = Stream()
    eng = engine()
    a = s.broker("new", "o1", 0, 10, account="A")
    b = dict(a, account="B")
    eng.process(s.intent("o1"))
    assert eng.process(a)["verdict"] == "accept"
    assert eng.process(b)["verdict"] != "duplicate"


def test_keys_expire_after_the_window_of_broker_time():
    s = Stream()
    eng = engine(policy_with(idempotency={"window": "10s"}))
    new = s.broker("new", "o1", 0, 10)
    run(eng, [s.intent("o1"), s.submit("o1"), new])
    eng.process(s.quote())
    s.t += 11 * S
    eng.process(s.quote())
    again = eng.process(dict(new))
    assert again["verdict"] == "stale"  # no longer remembered: ordering sees a repeat
    assert eng.snapshot()["guards"]["idempotency"]["expired"] >= 1


def test_number_of_keys_is_bounded():
    s = Stream()
    eng = engine(policy_with(idempotency={"max_keys": 3}))
    events = working_order(s) + [s.broker("partial_fill", "o1", q, 10 - q) for q in (1, 2, 3, 4)]
    run(eng, events)
    assert eng.snapshot()["guards"]["idempotency"]["keys"] == 3
    assert eng.process(dict(events[0]))["verdict"] != "duplicate"


def test_local_events_are_deduplicated_by_their_event_id():
    s = Stream()
    eng = engine()
    intent = s.intent("o1")
    decisions, _ = run(eng, [intent, dict(intent)])
    assert verdicts(decisions) == ["accept", "duplicate"]


def test_an_event_from_the_far_future_does_not_wipe_the_memory_of_duplicates():
    s = Stream()
    eng = engine(policy_with(idempotency={"window": "10s"}))
    fill = s.broker("partial_fill", "o1", 4, 6)
    run(eng, working_order(s) + [fill])
    liar = s.broker("partial_fill", "o1", 5, 5)
    liar["broker_ts"] += 3600 * S  # claims an hour ahead: the clock guard alerts, broker time stays
    eng.process(liar)
    again = eng.process(dict(fill, recv_ts=fill["recv_ts"] + 2 * MS))
    assert again["verdict"] == "duplicate"
    assert eng.order("o1")["cum_qty"] == 5


def test_keys_are_kept_at_least_the_window_and_at_most_a_64th_more():
    s = Stream()
    eng = engine(policy_with(idempotency={"window": "64s"}))
    new = s.broker("new", "o1", 0, 10)
    run(eng, [s.intent("o1"), s.submit("o1"), new])
    s.t = new["broker_ts"] + 64 * S - 10 * MS  # just inside the window
    eng.process(s.quote())
    assert eng.process(dict(new))["verdict"] == "duplicate"
    s.t = new["broker_ts"] + 65 * S + 10 * MS  # past the window and one bucket (64s / 64)
    eng.process(s.quote())
    assert eng.process(dict(new))["verdict"] == "stale"  # forgotten: ordering sees a repeat


def test_state_round_trip_keeps_buckets_and_the_bound():
    s = Stream()
    eng = engine(policy_with(idempotency={"max_keys": 5}))
    events = working_order(s) + [s.broker("partial_fill", "o1", q, 10 - q) for q in (1, 2, 3, 4, 5, 6)]
    run(eng, events)
    eng.pop_alerts()
    copy = type(eng).from_state(eng.policy, eng.state())
    later = s.broker("partial_fill", "o1", 7, 3)
    assert copy.process(dict(later)) == eng.process(dict(later))
    assert copy.snapshot()["guards"]["idempotency"] == eng.snapshot()["guards"]["idempotency"]
    assert copy.snapshot()["guards"]["idempotency"]["keys"] == 5
