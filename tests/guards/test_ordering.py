"""Ordering guard: allowed transitions, stale late deliveries, violations, late fills, overfill, gaps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.eventkit import Stream, engine, kinds, policy_with, run, verdicts, working_order


def test_allowed_life_cycle_is_accepted_with_rule_ids():
    s = Stream()
    eng = engine()
    decisions, alerts = run(eng, working_order(s) + [
        s.broker("partial_fill", "o1", 4, 6),
        s.broker("fill", "o1", 10, 0, last=6),
    ])
    assert verdicts(decisions) == ["accept"] * 5
    assert [d["rule"] for d in decisions[2:]] == ["ack", "working_fill", "working_fill"]
    assert alerts == []
    assert eng.order("o1")["state"] == "filled"
    assert eng.order("o1")["cum_qty"] == 10


def test_late_new_after_partial_fill_is_stale_and_changes_nothing():
    s = Stream()
    eng = engine()
    intent, submit, new = working_order(s)
    fill = s.broker("partial_fill", "o1", 4, 6)
    decisions, alerts = run(eng, [intent, submit, fill, new])
    assert verdicts(decisions) == ["accept", "accept", "accept", "stale"]
    assert decisions[3]["guard"] == "ordering"
    assert eng.order("o1")["state"] == "partially_filled"
    assert alerts == []


def test_cum_qty_never_goes_backwards():
    s = Stream()
    eng = engine()
    older = s.broker("partial_fill", "o1", 3, 7)
    newer = s.broker("partial_fill", "o1", 6, 4)
    decisions, _ = run(eng, working_order(s) + [newer, older])
    assert verdicts(decisions)[-2:] == ["accept", "stale"]
    assert "cum_qty" in decisions[-1]["reason"]
    assert eng.order("o1")["cum_qty"] == 6


def test_disallowed_transition_is_rejected_with_warning():
    s = Stream()
    eng = engine()
    decisions, alerts = run(eng, [s.intent("o1"), s.submit("o1"), s.broker("replaced", "o1")])
    assert decisions[-1]["verdict"] == "reject"
    assert decisions[-1]["rule"] == "on_violation"
    assert kinds(alerts) == ["illegal_transition"]
    assert alerts[0]["severity"] == "warning"
    assert eng.trading_state("g1") == "active"


def test_violation_after_terminal_is_critical_and_halts_the_group():
    s = Stream()
    eng = engine()
    decisions, alerts = run(eng, working_order(s) + [s.broker("fill", "o1", 10, 0), s.broker("canceled", "o1", 10, 0)])
    assert decisions[-1]["verdict"] == "reject"
    assert kinds(alerts) == ["illegal_transition", "halted"]
    assert alerts[0]["severity"] == "critical"
    assert eng.trading_state("g1") == "halted"
    assert eng.order("o1")["state"] == "filled"


def test_fill_after_cancel_keeps_quantity_and_halts_group():
    s = Stream()
    eng = engine()
    decisions, alerts = run(eng, working_order(s) + [
        s.broker("partial_fill", "o1", 4, 6),
        s.broker("canceled", "o1", 4, 0),
        s.broker("fill", "o1", 10, 0, last=6),
    ])
    assert decisions[-1]["verdict"] == "accept"
    assert decisions[-1]["rule"] == "late_fills"
    assert kinds(alerts) == ["illegal_transition", "halted"]
    assert alerts[0]["severity"] == "critical"
    order = eng.order("o1")
    assert order["cum_qty"] == 10 and order["late_qty"] == 6 and order["state"] == "canceled"
    blocked = eng.process(s.intent("o2"))
    assert blocked["verdict"] == "block" and blocked["guard"] == "escalation"
    assert eng.process(s.cancel("o1"))["verdict"] == "accept"


def test_overfill_alerts_and_halts():
    s = Stream()
    eng = engine()
    decisions, alerts = run(eng, working_order(s) + [s.broker("fill", "o1", 12, 0)])
    assert decisions[-1]["verdict"] == "accept"
    assert kinds(alerts) == ["overfill", "halted"]
    assert eng.trading_state("g1") == "halted"


def test_sequence_gap_is_alerted_once():
    s = Stream()
    eng = engine()
    events = working_order(s)
    events[-1]["broker_seq"] = 1
    events.append(s.broker("partial_fill", "o1", 2, 8, broker_seq=4))
    events.append(s.broker("partial_fill", "o1", 3, 7, broker_seq=2))
    decisions, alerts = run(eng, events)
    assert kinds(alerts) == ["sequence_gap"]
    assert alerts[0]["severity"] == "warning"
    assert "2 message(s) missing" in alerts[0]["detail"]


def test_cancel_rejected_reverts_to_state_before_pending_cancel():
    s = Stream()
    eng = engine()
    decisions, _ = run(eng, working_order(s) + [
        s.broker("partial_fill", "o1", 4, 6),
        s.cancel("o1"),
        s.broker("pending_cancel", "o1", 4, 6),
        s.broker("cancel_rejected", "o1"),
    ])
    assert verdicts(decisions)[-1] == "accept"
    assert decisions[-1]["rule"] == "revert"
    assert eng.order("o1")["state"] == "partially_filled"


def test_cancel_rejected_with_nothing_pending_is_stale():
    s = Stream()
    eng = engine()
    decisions, _ = run(eng, working_order(s) + [s.broker("cancel_rejected", "o1")])
    assert decisions[-1]["verdict"] == "stale"


def test_policy_may_apply_violations():
    s = Stream()
    eng = engine(policy_with(ordering={"on_violation": {"action": "apply", "severity": "warning",
                                                        "severity_after_terminal": "critical"}}))
    decisions, alerts = run(eng, [s.intent("o1"), s.submit("o1"), s.broker("replaced", "o1")])
    assert decisions[-1]["verdict"] == "accept"
    assert kinds(alerts) == ["illegal_transition"]
    assert eng.order("o1")["state"] == "replaced"


def _numbered(s, numbers, first_cum=1):
    """Partial fills of o1 (qty 1000) carrying these broker_seq numbers, cum_qty rising by one each."""
    return [s.broker("partial_fill", "o1", cum, 1000 - cum, last=1, broker_seq=number)
            for cum, number in enumerate(numbers, first_cum)]


def _one_session_then_another(new_session: bool) -> tuple[list[dict], list[dict]]:
    """Session one numbers 1 to 39 with nothing lost; session two numbers 1, 2, 5, 6 (3 and 4 lost)."""
    s = Stream()
    eng = engine()
    events = working_order(s, qty=1000)
    events[-1]["broker_seq"] = 1
    _, alerts = run(eng, events + _numbered(s, range(2, 40)))
    assert kinds(alerts) == []
    if new_session:
        eng.new_session()
    return run(eng, _numbered(s, [1, 2, 5, 6], first_cum=100))


def test_a_new_session_restarts_the_numbering_so_its_gaps_are_seen():
    """A second session (or the next log) numbers from 1 again; a gap in it is alerted, the restart is not."""
    _, alerts = _one_session_then_another(new_session=True)
    assert kinds(alerts) == ["sequence_gap"]
    assert "from 2 to 5: 2 message(s) missing" in alerts[0]["detail"]


def test_without_a_new_session_the_old_numbering_hides_the_new_sessions_gaps():
    """What new_session is for: numbers below the old session's last are never compared."""
    decisions, alerts = _one_session_then_another(new_session=False)
    assert kinds(alerts) == [] and {d["verdict"] for d in decisions} == {"accept"}


def _two_venues() -> tuple[list[dict], list[dict]]:
    """Orders o1 and o2 at two venues, their fills interleaved: venue A numbers 101..110, venue B 1..4 then 7, 8 (5, 6 lost)."""
    s = Stream()
    first, second = working_order(s, "o1", qty=1000), working_order(s, "o2", qty=1000)
    first[-1]["broker_seq"], second[-1]["broker_seq"] = 101, 1
    fills_a = [s.broker("partial_fill", "o1", cum, 1000 - cum, last=1, broker_seq=n) for cum, n in enumerate(range(102, 111), 1)]
    fills_b = [s.broker("partial_fill", "o2", cum, 1000 - cum, last=1, broker_seq=n) for cum, n in enumerate([2, 3, 4, 7, 8], 1)]
    return first + second, [event for pair in zip(fills_a, fills_b) for event in pair] + fills_a[len(fills_b):]


def test_interleaved_sessions_are_each_compared_with_their_own_numbering():
    """use_session keeps venue B's numbers apart from venue A's: B's lost 5 and 6 are its only gap."""
    opening, fills = _two_venues()
    eng = engine()
    for event in opening + fills:
        eng.use_session("A" if event.get("order_id") == "o1" else "B")
        decision = eng.process(event)
        assert decision["verdict"] == "accept", decision
    alerts = eng.pop_alerts()
    assert kinds(alerts) == ["sequence_gap"] and alerts[0]["order_id"] == "o2"
    assert "from 4 to 7: 2 message(s) missing" in alerts[0]["detail"]
    # One numbering for both, as before sessions: B's numbers sit below A's, and its gap goes unseen.
    _, mixed = run(engine(), opening + fills)
    assert kinds(mixed) == []


def test_sessions_survive_a_checkpoint():
    """An engine restored mid-stream (through JSON, as the journal stores it) goes on comparing each session with its own."""
    import json

    opening, fills = _two_venues()
    session = lambda event: "A" if event.get("order_id") == "o1" else "B"  # noqa: E731
    eng = engine()
    for event in opening + fills[:7]:
        eng.use_session(session(event))
        eng.process(event)
    restored = type(eng).from_state(eng.policy, json.loads(json.dumps(eng.state())))
    assert restored.state() == eng.state()
    for event in fills[7:]:
        for one in (eng, restored):
            one.use_session(session(event))
            one.process(event)
    assert kinds(restored.pop_alerts()) == kinds(eng.pop_alerts()) == ["sequence_gap"]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_sessions_interleaved_any_way_each_find_exactly_their_own_gaps(data):
    """2-4 sessions, each numbering from its own start, one message lost in some; their fills interleaved at random.

    Each lost message is one ``sequence_gap`` naming its session's numbers, and nothing else is; the bulk path,
    a stretch of one session at a time, decides and alerts exactly as the one-event path does.
    """
    from safeguards.events import FIELDS

    count = data.draw(st.integers(2, 4), label="sessions")
    starts = data.draw(st.lists(st.integers(1, 40), min_size=count, max_size=count), label="starts")
    lengths = data.draw(st.lists(st.integers(1, 8), min_size=count, max_size=count), label="fills")
    lost = [data.draw(st.one_of(st.none(), st.integers(0, length - 1)), label=f"lost in {k}")
            for k, length in enumerate(lengths)]
    turns = data.draw(st.permutations([k for k in range(count) for _ in range(lengths[k])]), label="interleaving")
    s = Stream()
    events, keys = [], []
    for k in range(count):
        opening = working_order(s, f"o{k}", f"g{k}", qty=1000)
        opening[-1]["broker_seq"] = starts[k]
        events += opening
        keys += [k] * len(opening)
    done = [0] * count
    for k in turns:
        j = done[k]
        done[k] += 1
        number = starts[k] + 1 + j + (lost[k] is not None and j >= lost[k])
        events.append(s.broker("partial_fill", f"o{k}", j + 1, 999 - j, last=1, broker_seq=number))
        keys.append(k)

    one_by_one = engine()
    for key, event in zip(keys, events):
        one_by_one.use_session(key)
        assert one_by_one.process(dict(event))["verdict"] == "accept"
    alerts = one_by_one.pop_alerts()
    expected = sorted((f"o{k}", f"from {starts[k] + d} to {starts[k] + d + 2}: 1 message(s) missing")
                      for k, d in enumerate(lost) if d is not None)
    assert sorted((a["order_id"], a["detail"].split("jumped ")[1]) for a in alerts) == expected
    assert {a["kind"] for a in alerts} <= {"sequence_gap"}

    bulk = engine()
    cuts = [i for i in range(len(keys) + 1) if i in (0, len(keys)) or keys[i] != keys[i - 1]]
    outcomes = []
    for start, stop in zip(cuts, cuts[1:]):  # as the backtest runs a batch: a stretch per session
        bulk.use_session(keys[start])
        stretch = events[start:stop]
        outcomes += bulk.decide_stored(stretch, [tuple(f for f in FIELDS if f in e) for e in stretch])[0]
    assert [o[0] for o in outcomes] == ["accept"] * len(events)
    assert bulk.pop_alerts() == alerts
