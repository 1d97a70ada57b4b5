"""The batch entry point decides exactly as one event at a time, with shared outcome tuples."""

from __future__ import annotations

from safeguards import Engine
from tests.eventkit import reference_policy
from tests.golden_stream import golden_items


def test_decide_batch_matches_process() -> None:
    policy = reference_policy()
    events = [value for what, value in golden_items() if what == "event"]
    one_at_a_time = Engine(policy)
    decisions = [one_at_a_time.process(event) for event in events]
    alerts = one_at_a_time.pop_alerts()
    engine = Engine(policy)
    got_alerts = []
    seqs, outcomes, groups = [], [], []
    for start in range(0, len(events), 1000):
        s, o, g, a = engine.decide_batch(events[start:start + 1000])
        seqs += s
        outcomes += o
        groups += g
        got_alerts += a
    want = [(d["seq"], (d["verdict"], d["guard"], d["rule"], d["reason"]), d["group_id"]) for d in decisions]
    assert list(zip(seqs, outcomes, groups)) == want
    assert got_alerts == alerts and len(alerts) > 100
    assert len({id(outcome) for outcome in outcomes}) < len(outcomes) / 3, "equal outcomes share one tuple"
    assert engine.counts == one_at_a_time.counts
    assert engine.snapshot() == one_at_a_time.snapshot()
