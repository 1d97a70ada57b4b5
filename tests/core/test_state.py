"""The core's checkpoints: a resumed engine continues exactly like the uninterrupted one, in any process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from safeguards._core import Engine
from safeguards.errors import EngineError
from tests.eventkit import Stream, policy_with, reference_policy
from tests.golden_stream import golden_items

ROOT = Path(__file__).resolve().parents[2]


def play(engine: Engine, items: list) -> list:
    out = []
    for what, value in items:
        if what == "event":
            out.append(engine.process(value))
        else:
            out.append(("advanced", engine.advance(value)))
        out.append(engine.pop_alerts())
    return out


@pytest.mark.parametrize("split", [1, 500, 4321, 11_000])
def test_a_resumed_engine_continues_exactly(split: int) -> None:
    policy = reference_policy()
    items = golden_items()
    whole = Engine(policy)
    expected = play(whole, items)
    first = Engine(policy)
    got = play(first, items[:split])
    saved = json.loads(json.dumps(first.state()))  # through JSON, as a checkpoint file is
    assert saved["format"] == "safeguards-core/1"
    resumed = Engine.from_state(policy, saved)
    assert resumed.state() == first.state()
    got += play(resumed, items[split:])
    assert got == expected
    assert resumed.snapshot() == whole.snapshot()
    assert resumed.state() == whole.state()


def test_a_checkpoint_loads_in_a_process_with_another_hash_seed(tmp_path: Path) -> None:
    """Dedup keys are xxh3 of canonical bytes: no per-process salt, no PYTHONHASHSEED to match."""
    policy = reference_policy()
    items = golden_items()
    split = 6000
    first = Engine(policy)
    play(first, items[:split])
    (tmp_path / "state.json").write_text(json.dumps(first.state()))
    (tmp_path / "rest.json").write_text(json.dumps(items[split:]))
    script = (
        "import json, sys\n"
        "from safeguards._core import Engine\n"
        "from tests.eventkit import reference_policy\n"
        "from tests.core.test_state import play\n"
        f"folder = {str(tmp_path)!r}\n"
        "engine = Engine.from_state(reference_policy(), json.load(open(folder + '/state.json')))\n"
        "out = play(engine, [tuple(item) for item in json.load(open(folder + '/rest.json'))])\n"
        "json.dump({'out': out, 'snapshot': engine.snapshot()}, open(folder + '/out.json', 'w'))\n"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True)
        there = json.loads((tmp_path / "out.json").read_text())
        here = Engine.from_state(policy, json.loads((tmp_path / "state.json").read_text()))
        assert there["out"] == json.loads(json.dumps(play(here, items[split:])))
        assert there["snapshot"] == json.loads(json.dumps(here.snapshot()))


def test_a_state_is_refused_under_another_policy_and_with_alerts_pending() -> None:
    engine = Engine(reference_policy())
    engine.process({"source": "local", "type": "submit", "order_id": "X", "recv_ts": 5})
    with pytest.raises(EngineError, match="pop_alerts"):
        engine.state()
    engine.pop_alerts()
    state = engine.state()
    with pytest.raises(EngineError, match="policy hash"):
        Engine.from_state(policy_with(hedging={"max_depth": 3}), state)
    with pytest.raises(EngineError, match="replaying the journal"):
        Engine.from_state(reference_policy(), {**state, "format": "python/0"})


def test_the_trading_state_alone_is_the_snapshots() -> None:
    # The sidecar's exit reads trading() instead of the whole snapshot: the two must never differ.
    engine = Engine(reference_policy())
    halted = False
    for index, (what, value) in enumerate(golden_items(groups=60)):
        if what == "event":
            engine.process(value)
        else:
            engine.advance(value)
        engine.pop_alerts()
        trading = engine.trading()
        halted |= trading["all"] != "active" or bool(trading["groups"])
        if index % 25 == 0:
            assert trading == engine.snapshot()["trading"]
    assert engine.trading() == engine.snapshot()["trading"]
    assert halted, "the stream should escalate at least one group, or this compares only the empty state"


def canonical(state: dict) -> str:
    return json.dumps(state, sort_keys=True, separators=(",", ":"), allow_nan=False)


@pytest.mark.parametrize("split", [0, 1, 500, 4321, 11_000])
def test_the_state_as_text_is_the_state_as_json_writes_it(split: int) -> None:
    """A checkpoint is sealed over this text: it must be the canonical JSON of `state()`, byte for byte."""
    policy = reference_policy()
    engine = Engine(policy)
    play(engine, golden_items()[:split])
    text = engine.state_text()
    assert text == canonical(engine.state())
    assert Engine.from_state(policy, text).state() == engine.state()


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
quantities = st.one_of(st.integers(1, 10**9), st.floats(0.001, 1e9, allow_nan=False, allow_infinity=False))


@settings(max_examples=60, deadline=None)
@given(order_ids=st.lists(texts, min_size=1, max_size=6, unique=True), symbol=texts, account=texts, qty=quantities,
       fill=quantities)
def test_state_text_writes_any_id_and_quantity_as_json_does(order_ids, symbol, account, qty, fill) -> None:
    """Non-ASCII and control characters in ids (escaped as json escapes them), floats as repr writes them."""
    s = Stream()
    engine = Engine(reference_policy())
    for order_id in order_ids:
        for event in (s.quote(symbol), s.intent(order_id, group_id=order_id, symbol=symbol, qty=qty),
                      s.submit(order_id), s.broker("new", order_id, 0, qty),
                      s.broker("partial_fill", order_id, min(fill, qty) / 2, qty - min(fill, qty) / 2)):
            engine.process({**event, "account": account})
        engine.pop_alerts()
    assert engine.state_text() == canonical(engine.state())
