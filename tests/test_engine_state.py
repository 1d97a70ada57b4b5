"""Engine.state() / Engine.from_state(): a checkpointed engine continues exactly like the original."""

from __future__ import annotations

import copy
import json

import pytest

from safeguards import Engine
from safeguards.errors import EngineError
from tests.eventkit import reference_policy
from tests.golden_stream import golden_items


def feed(engine: Engine, items) -> list:
    out = []
    for kind, value in items:
        if kind == "event":
            out.append(engine.process(copy.deepcopy(value)))
            out.extend(engine.pop_alerts())
        else:
            out.extend(engine.advance(value))
    return out


@pytest.mark.parametrize("split", [0, 1, 97, 1500, 4000, 6500, 6913])
def test_from_state_continues_exactly_on_the_golden_stream(split):
    policy = reference_policy()
    items = golden_items(groups=250)
    whole = Engine(policy)
    expected_head = feed(whole, items[:split])
    expected_tail = feed(whole, items[split:])
    first = Engine(policy)
    assert feed(first, items[:split]) == expected_head
    saved = json.loads(json.dumps(first.state()))  # through JSON, as a checkpoint file is
    resumed = Engine.from_state(policy, saved)
    assert feed(resumed, items[split:]) == expected_tail
    assert resumed.snapshot() == whole.snapshot()
    assert resumed.state() == whole.state()


def test_state_of_another_policy_is_refused():
    state = Engine(reference_policy()).state()
    state["policy_hash"] = "0" * 64
    with pytest.raises(EngineError, match="policy hash"):
        Engine.from_state(reference_policy(), state)
