"""Engine: decision and alert shapes, one decision per event, escalation, and property tests."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeguards import Engine, build_engine
from safeguards.events import FIELDS
from tests.eventkit import S, Stream, engine, kinds, policy_with, reference_policy, run, verdicts, working_order

VERDICTS = ("accept", "duplicate", "stale", "reject", "block", "invalid")  # DESIGN.md section 5
DECISION_KEYS = {"seq", "event_id", "order_id", "group_id", "verdict", "guard", "rule", "reason", "policy"}
ALERT_KEYS = {"kind", "severity", "guard", "seq", "order_id", "group_id", "broker_ts", "detail"}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_verdict_with_the_decision_shape():
    s = Stream()
    eng = engine()
    fill = s.broker("partial_fill", "o1", 4, 6)
    events = working_order(s) + [
        fill,                                   # accept
        dict(fill),                             # duplicate
        s.broker("new", "o1", 0, 10),           # stale
        s.broker("pending_new", "o1", 4, 6),    # stale (earlier stage)
        s.broker("replaced", "o1", 4, 6),       # accept (replace_without_pending)
        s.submit("zz"),                         # block
        {"source": "broker", "type": "fill"},   # invalid
    ]
    decisions, alerts = run(eng, events)
    assert verdicts(decisions) == ["accept"] * 4 + ["duplicate", "stale", "stale", "accept", "block", "invalid"]
    for decision in decisions:
        assert set(decision) == DECISION_KEYS
        assert decision["policy"] == reference_policy().identity
    for alert in alerts:
        assert set(alert) == ALERT_KEYS
    assert decisions[3]["group_id"] == "g1"  # resolved from the order's intent
    json.dumps(decisions), json.dumps(alerts), json.dumps(eng.snapshot())


def test_reject_verdict():
    s = Stream()
    eng = engine()
    decisions, _ = run(eng, working_order(s) + [s.broker("fill", "o1", 10, 0), s.broker("expired", "o1", 10, 0)])
    assert decisions[-1]["verdict"] == "reject"


def test_invalid_reason_names_the_field_and_engine_goes_on():
    s = Stream()
    eng = engine()
    bad = s.broker("partial_fill", "o1", 4, 6)
    bad["last_qty"] = -1
    decisions, _ = run(eng, working_order(s) + [bad, s.broker("partial_fill", "o1", 4, 6)])
    assert decisions[3]["verdict"] == "invalid" and "last_qty" in decisions[3]["reason"]
    assert decisions[4]["verdict"] == "accept"


def test_a_lone_surrogate_is_invalid_not_an_exception():
    s = Stream()
    eng = engine()
    bad = s.broker("partial_fill", "o1", 4, 6)
    bad["order_id"] = "o1\ud800"
    odd_key = {**s.broker("partial_fill", "o1", 4, 6), "\udfff": "x"}  # not a canonical field: left alone
    decisions, _ = run(eng, working_order(s) + [bad, odd_key])
    assert decisions[3]["verdict"] == "invalid" and "'order_id'" in decisions[3]["reason"]
    assert "unpaired surrogate" in decisions[3]["reason"]
    assert decisions[4]["verdict"] == "accept"


def test_rfc3339_timestamps_are_accepted():
    eng = engine()
    decision = eng.process({"source": "market", "type": "quote", "symbol": "SPX", "bid_px": 1, "bid_qty": 1,
                            "ask_px": 2, "ask_qty": 1, "broker_ts": "2026-02-21T14:30:00.5Z",
                            "recv_ts": "2026-02-21T14:30:00.501Z"})
    assert decision["verdict"] == "accept"
    assert eng.now == 1_771_684_200 * S + 500_000_000


def test_seq_is_kept_or_assigned_by_arrival():
    s = Stream()
    eng = engine()
    first = eng.process(s.quote(seq=41))
    second = eng.process(s.quote())
    assert first["seq"] == 41 and second["seq"] == 2


def test_escalation_clears_after_its_span_of_broker_time():
    s = Stream()
    policy = policy_with(escalation=[{"id": "reduce_on_skew", "alerts": ["clock_skew"], "scope": "all",
                                      "to": "reducing", "clear_after": "10s"}])
    eng = engine(policy)
    run(eng, [s.quote(), s.quote()])
    late = s.quote()
    late["recv_ts"] += 2 * S
    eng.process(late)
    assert kinds(eng.pop_alerts()) == ["clock_skew", "reducing"]
    assert eng.trading_state() == "reducing"
    assert kinds(eng.advance(s.t + 11 * S)) == ["resumed"]
    assert eng.trading_state() == "active"


def test_halted_group_does_not_halt_other_groups():
    s = Stream()
    eng = engine()
    run(eng, [s.quote(), s.broker("new", "ghost", 0, 5, group_id="gx")])
    assert eng.trading_state("gx") == "halted"
    assert eng.process(s.intent("o9", "other"))["verdict"] == "accept"
    assert eng.group("gx")["orders"]["ghost"]["state"] == "new"


def test_build_engine_from_path_and_tables():
    path_engine = build_engine("rules/multileg_options.yaml")
    table_engine = build_engine(reference_policy().tables)
    assert path_engine.identity == table_engine.identity == reference_policy().identity


# --- property tests ------------------------------------------------------------------------

PATHS = {
    "fill": ["new", "partials", "fill"],
    "cancel": ["new", "partials", "pending_cancel", "canceled"],
    "cancel_rejected": ["new", "pending_cancel", "cancel_rejected", "partials", "fill"],
    "expire": ["new", "partials", "expired"],
    "reject": ["rejected"],
}


@st.composite
def life_cycles(draw, max_orders: int = 3):
    """Intents and submits for a few orders, then each order's valid broker events."""
    s = Stream()
    local, broker_by_order = [s.quote()], []
    for index in range(draw(st.integers(1, max_orders))):
        order_id, qty = f"o{index}", draw(st.integers(2, 20))
        local += [s.intent(order_id, f"g{index % 2}", qty=qty), s.submit(order_id)]
        path = PATHS[draw(st.sampled_from(sorted(PATHS)))]
        cum, events = 0, []
        for step in path:
            if step == "partials":
                for _ in range(draw(st.integers(0, 3))):
                    if cum + 1 < qty:
                        cum = draw(st.integers(cum + 1, qty - 1))
                        events.append(s.broker("partial_fill", order_id, cum, qty - cum))
            elif step == "fill":
                events.append(s.broker("fill", order_id, qty, 0, last=qty - cum))
                cum = qty
            elif step == "cancel_rejected":
                events.append(s.broker("cancel_rejected", order_id))
            else:
                events.append(s.broker(step, order_id, cum, 0 if step in ("canceled", "expired", "rejected") else qty - cum))
        broker_by_order.append(events)
    broker = [e for events in broker_by_order for e in events]
    return local, broker


def final_orders(eng: Engine, order_ids) -> dict:
    return {o: (eng.order(o)["state"], eng.order(o)["cum_qty"]) for o in order_ids}


def order_ids(events):
    return sorted({e["order_id"] for e in events})


@FAST
@given(life_cycles(), st.data())
def test_duplicating_broker_events_never_changes_final_states(cycle, data):
    local, broker = cycle
    baseline = engine()
    run(baseline, local + broker)
    with_dups = list(broker)
    chosen = data.draw(st.lists(st.sampled_from(range(len(broker))), max_size=len(broker)))
    for index in chosen:
        at = data.draw(st.integers(index + 1, len(with_dups)))
        with_dups.insert(at, dict(broker[index]))
    eng = engine()
    decisions, _ = run(eng, local + with_dups)
    assert verdicts(decisions).count("duplicate") == len(chosen)
    ids = order_ids(broker)
    assert final_orders(eng, ids) == final_orders(baseline, ids)


@FAST
@given(life_cycles(max_orders=2), st.data())
def test_delaying_events_never_regresses_a_state_and_ends_the_same(cycle, data):
    local, broker = cycle
    stage = reference_policy().tables["ordering"]["stage"]
    baseline = engine()
    run(baseline, local + broker)
    shuffled = data.draw(st.permutations(broker))
    eng = engine()
    run(eng, local)
    for event in shuffled:
        before = eng.order(event["order_id"])["state"]
        decision = eng.process(event)
        after = eng.order(event["order_id"])["state"]
        if decision["rule"] != "revert":  # cancel_rejected returns to the earlier state by design
            assert stage[after] >= stage[before], (before, after, decision)
    ids = order_ids(broker)
    assert final_orders(eng, ids) == final_orders(baseline, ids)


@FAST
@given(life_cycles(), st.lists(st.integers(0, 40), max_size=6))
def test_every_event_gets_exactly_one_decision(cycle, garbage_at):
    local, broker = cycle
    events = local + broker
    for position in garbage_at:
        events.insert(min(position, len(events)), {"source": "broker", "type": "fill", "junk": position})
    numbered = [dict(e, seq=i) if isinstance(e, dict) else e for i, e in enumerate(events)]
    decisions, _ = run(engine(), numbered)
    assert [d["seq"] for d in decisions] == list(range(len(events)))


_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["broker", "local", "market", "fill", "intent", "quote", "hedge", "buy", "2026-02-21T14:30:00Z", "o1"]),
)
_keys = st.sampled_from(sorted(FIELDS) + ["extra", ""])


@FAST
@given(st.lists(st.one_of(st.dictionaries(_keys, _values, max_size=14), _values), max_size=12), life_cycles(max_orders=1))
def test_malformed_events_never_raise(garbage, cycle):
    local, broker = cycle
    eng = engine()
    for item in local + garbage + broker:
        assert eng.process(item)["verdict"] in VERDICTS


@FAST
@given(life_cycles(max_orders=1), st.data())
def test_one_bad_field_in_a_valid_event_never_raises(cycle, data):
    local, broker = cycle
    eng = engine()
    for event in local + broker:
        event = dict(event)
        if data.draw(st.booleans()):
            event[data.draw(_keys)] = data.draw(_values)
        decision = eng.process(event)
        assert decision["verdict"] in VERDICTS
        if decision["verdict"] == "invalid":
            assert decision["reason"]
    assert not math.isnan(eng.now)
