"""The core says over the real logs and a faulty simulated log what the retired Python oracle said (recorded.json).

Counts are compared first, so a failure says what changed
(``alerts.fill_conflict/critical: recorded 3, now 5``); then the digest of the
whole transcript. If a change is meant, re-record (README.md here).
"""

from __future__ import annotations

import pytest

from safeguards import Engine
from tests.conformance.recorded import (SIMULATED, differences, read_recorded, real_logs, record, record_input,
                                        simulated_items)
from tests.eventkit import policy_with
from tests.ingesting import REAL_DATA

RECORDS = read_recorded()
REAL = sorted(name for name in RECORDS if name != SIMULATED)


def _check(name: str) -> None:
    lines = differences(RECORDS[name], record_input(name, Engine))
    assert not lines, f"{name} differs from its recorded transcript:\n  " + "\n  ".join(lines)


def test_the_simulated_log_with_every_fault_kind() -> None:
    _check(SIMULATED)


@pytest.mark.parametrize("name", REAL)
def test_a_real_log_as_the_backtest_replays_it(name: str) -> None:
    if not REAL_DATA.is_dir():
        pytest.skip(f"the real logs are not at {REAL_DATA.resolve()} (../shared/data/real beside the clone)")
    assert name in real_logs(), f"{name} was recorded but is not among the real logs safeguards reads now"
    _check(name)


def test_every_real_log_safeguards_reads_is_recorded() -> None:
    if not REAL_DATA.is_dir():
        pytest.skip(f"the real logs are not at {REAL_DATA.resolve()} (../shared/data/real beside the clone)")
    missing = sorted(real_logs().keys() - RECORDS.keys())
    assert not missing, f"not recorded (python -m tests.conformance.recorded --write, and say why): {missing}"


def test_the_record_covers_every_verdict_but_invalid_and_many_alert_kinds() -> None:
    """What the pin is worth: the faulty log exercises the guards, not only ``accept``."""
    simulated = RECORDS[SIMULATED]
    assert {"accept", "block", "duplicate", "reject", "stale"} <= simulated.verdicts.keys()
    assert len({key.split("/")[0] for key in simulated.alerts}) >= 10


def test_a_change_in_behaviour_is_told_by_its_counts(tmp_path) -> None:
    """A dedup window of 1 ms (repeats no longer duplicates) shows up as counts that name what moved."""
    changed = record(Engine, policy_with(idempotency={"window": "1ms"}), simulated_items(tmp_path))
    want = RECORDS[SIMULATED]
    lines = differences(want, changed)
    assert any(line.startswith(f"verdicts.duplicate: recorded {want.verdicts['duplicate']}, now ") for line in lines), lines
    assert not any("input" in line for line in lines), lines
