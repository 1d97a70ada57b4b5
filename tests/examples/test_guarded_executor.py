"""The wiring example runs and the engine stops it where the policy says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "guarded_executor.py"


def load_example():
    spec = importlib.util.spec_from_file_location("guarded_executor", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_executor_hedges_until_the_depth_limit_then_stops():
    summary = load_example().main(verbose=False)
    assert summary["sent_to_broker"] == ["spread-long", "spread-short", "hedge-spread-short", "hedge-hedge-spread-short"]
    assert summary["trading_state"] == "halted"
    assert summary["alerts"] == ["hedge_depth_exceeded", "halted"]
    assert summary["verdicts"]["duplicate"] == 1
    assert summary["long_leg_filled_once"] and summary["new_order_after_halt_refused"]
