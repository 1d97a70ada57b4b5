"""Simulated logs shared by the simulator tests: made once per session, in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguards.simulator import SimOptions, default_rates, no_faults, simulate_to
from safeguards.simulator.scoring import read_jsonl, run_engine

POLICY = Path(__file__).resolve().parents[2] / "rules" / "multileg_options.yaml"

#: Rates high enough that every kind occurs dozens of times in a few thousand groups.
BUSY_RATES = {**{name: 0.03 for name in default_rates()}, "duplicate": 0.01, "sequence_gap": 0.005,
              "reorder": 0.03, "clock_skew": 0.004, "future_timestamp": 0.004}


class Run:
    def __init__(self, path: Path, options: SimOptions) -> None:
        self.path = path
        self.summary, self.labels_path = simulate_to(path, options)
        self.events = list(read_jsonl(path))
        self.labels = list(read_jsonl(self.labels_path))
        self._engine = None

    @property
    def engine_run(self):
        """(decisions by seq, alerts) of the reference policy over this log, computed once."""
        if self._engine is None:
            self._engine = run_engine(self.events, POLICY)
        return self._engine


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory) -> Run:
    return Run(tmp_path_factory.mktemp("clean") / "clean.jsonl", SimOptions(seed=11, groups=3000, rates=no_faults()))


@pytest.fixture(scope="session")
def faulty_run(tmp_path_factory) -> Run:
    return Run(tmp_path_factory.mktemp("faulty") / "faulty.jsonl", SimOptions(seed=12, groups=3000, rates=BUSY_RATES))
