"""Golden output: the engine's decisions, alerts and final state on a messy seeded stream are pinned.

Recorded before the hot path was optimised; any change in behaviour (a verdict,
a rule id, a reason's wording, an alert, the order of alerts, the final state)
changes the digest. If a change is intended, re-record with
``python -m tests.test_engine_golden`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import yaml

from safeguards import Engine
from safeguards.events import FIELDS
from safeguards.screening import check_event
from tests.eventkit import REFERENCE, policy_with, reference_policy
from tests.golden_stream import golden_items


def _variant_policy():
    """Violations applied, a fill timeout, and a clock-skew escalation that clears by itself."""
    rules = yaml.safe_load(REFERENCE.read_text("utf-8"))["escalation"]
    for rule in rules:
        if rule["id"] == "reduce_on_clock_skew":
            rule["clear_after"] = "20s"
    return policy_with(
        ordering={"on_violation": {"action": "apply"}},
        clock={"timeouts": {"fill": "10s"}},
        escalation=rules,
    )


def _run_one_by_one(engine: Engine, items) -> list[Any]:
    out: list[Any] = []
    for what, value in items:
        if what == "advance":
            out.append({"advanced": engine.advance(value)})
        else:
            out.append(engine.process(value))
            out.append(engine.pop_alerts())
    return out


def _run_in_batches(engine: Engine, items, size: int = 37) -> list[Any]:
    out: list[Any] = []
    batch: list[Any] = []
    for what, value in items:
        if what == "event":
            batch.append(value)
            if len(batch) < size:
                continue
        if batch:
            out.append(engine.process_batch(batch))
            batch = []
        if what == "advance":
            out.append({"advanced": engine.advance(value)})
    if batch:
        out.append(engine.process_batch(batch))
    return out


def _digest(out: list[Any], engine: Engine) -> tuple[str, dict[str, int], dict[str, int]]:
    text = json.dumps([out, engine.snapshot()], sort_keys=True, default=repr, separators=(",", ":"))
    text = text.replace(engine.identity, "<policy>")  # pin behaviour, not the policy file's hash
    return hashlib.sha256(text.encode()).hexdigest(), dict(engine.counts), dict(sorted(engine.alert_counts.items()))


def outcomes() -> dict[str, tuple[str, dict[str, int], dict[str, int]]]:
    items = golden_items()
    reference = Engine(reference_policy())
    variant = Engine(_variant_policy())
    return {
        "reference": _digest(_run_one_by_one(reference, items), reference),
        "variant": _digest(_run_in_batches(variant, items), variant),
    }


GOLDEN: dict[str, tuple[str, dict[str, int], dict[str, int]]] = {
    'reference': ('8b4ffb3fbc9313965a9dae7bf30604552388fb7bff01390ab54bc6e35490d0e0', {'accept': 10231, 'duplicate': 147, 'stale': 59, 'reject': 33, 'block': 651, 'invalid': 78}, {'ack_timeout': 33, 'clock_skew': 1, 'conflicting_duplicate': 30, 'halted': 430, 'hedge_depth_exceeded': 30, 'illegal_transition': 90, 'insufficient_liquidity': 34, 'orphan_order': 247, 'overfill': 102, 'reducing': 1, 'sequence_gap': 439, 'stale_quote': 3, 'submit_without_intent': 328, 'unhedged_timeout': 190}),
    'variant': ('346c6a75876c6d13b864267abcbae954d938324deff0b2d644e87cced79e1551', {'accept': 10267, 'duplicate': 147, 'stale': 60, 'reject': 30, 'block': 617, 'invalid': 78}, {'ack_timeout': 33, 'clock_skew': 1, 'conflicting_duplicate': 30, 'fill_timeout': 29, 'halted': 415, 'hedge_depth_exceeded': 30, 'illegal_transition': 90, 'insufficient_liquidity': 34, 'orphan_order': 230, 'overfill': 102, 'reducing': 1, 'resumed': 1, 'sequence_gap': 439, 'stale_quote': 3, 'submit_without_intent': 332, 'unhedged_timeout': 190}),
}


def test_decisions_alerts_and_state_match_the_recorded_golden_output():
    got = outcomes()
    for name, (digest, counts, alerts) in GOLDEN.items():
        assert got[name][1] == counts, name
        assert got[name][2] == alerts, name
        assert got[name][0] == digest, name


def test_the_golden_stream_exercises_every_verdict_and_most_alert_kinds():
    _, counts, alerts = outcomes()["reference"]
    assert all(counts[verdict] > 0 for verdict in counts), counts
    assert len(alerts) >= 10, alerts


if __name__ == "__main__":
    for name, value in outcomes().items():
        print(f"    {name!r}: {value!r},")
    print(Counter(what for what, _ in golden_items()))


def test_the_stored_events_path_gives_the_golden_output():
    """process_stored (the backtest's path: events the store already screened) decides exactly as process."""
    engine = Engine(reference_policy())
    out: list[Any] = []
    for what, value in golden_items():
        if what == "advance":
            out.append({"advanced": engine.advance(value)})
            continue
        reason, broker_ts, recv_ts, fields = check_event(value)
        if reason is None:  # as the store gives it back: int ns timestamps, canonical fields named
            stored = {**value, "recv_ts": recv_ts, **({} if broker_ts is None else {"broker_ts": broker_ts})}
            named = tuple(name for name in FIELDS if stored.get(name) is not None)
            out.append(engine.process_stored(stored, named))
        else:  # the store would have rejected it at ingest; keep the stream's sequence the same
            out.append(engine.process(value))
        out.append(engine.pop_alerts())
    assert _digest(out, engine) == GOLDEN["reference"]


def test_the_bulk_stored_path_decides_as_the_stored_path():
    """decide_stored (the backtest's bulk path) gives each event process_stored's verdict, guard, rule, reason and group."""
    stored_events: list[tuple[dict, tuple]] = []
    for what, value in golden_items():
        if what == "event":
            reason, broker_ts, recv_ts, _ = check_event(value)
            if reason is None:
                stored = {**value, "recv_ts": recv_ts, **({} if broker_ts is None else {"broker_ts": broker_ts})}
                stored_events.append((stored, tuple(name for name in FIELDS if stored.get(name) is not None)))
    one_by_one, bulk = Engine(reference_policy()), Engine(reference_policy())
    expected = [one_by_one.process_stored(event, named) for event, named in stored_events]
    outcomes, groups = [], []
    for start in range(0, len(stored_events), 53):
        chunk = stored_events[start:start + 53]
        got, got_groups = bulk.decide_stored([e for e, _ in chunk], [n for _, n in chunk])
        outcomes += got
        groups += got_groups
    assert len(outcomes) == len(expected) > 1000
    assert [(d["verdict"], d["guard"], d["rule"], d["reason"], d["group_id"]) for d in expected] == \
        [(*outcome, group) for outcome, group in zip(outcomes, groups)]
    assert one_by_one.pop_alerts() == bulk.pop_alerts()
    assert one_by_one.snapshot() == bulk.snapshot()


def test_the_bulk_path_turns_an_event_that_breaks_a_step_into_invalid_and_goes_on():
    """A stored event that breaks the store's promise (here: no order_id) is ``invalid``; the next is decided."""
    engine = Engine(reference_policy())
    broken = {"seq": 1, "source": "broker", "type": "new", "event_id": "E1", "recv_ts": 1_000, "broker_ts": 900}
    quote = {"seq": 2, "source": "market", "type": "quote", "symbol": "X", "bid_px": 1.0, "bid_qty": 5,
             "ask_px": 1.1, "ask_qty": 5, "recv_ts": 2_000, "broker_ts": 1_900}
    outcomes, groups = engine.decide_stored([broken, quote], [tuple(broken), tuple(quote)])
    assert [o[0] for o in outcomes] == ["invalid", "accept"]
    assert "could not process this event" in outcomes[0][3] and groups == [None, None]
    assert engine.counts["invalid"] == 1 and engine.counts["accept"] == 1 and engine.arrivals == 2
