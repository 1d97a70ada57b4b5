"""The sidecar's idle clock: broker time moves on by elapsed local time, and only says so when a timer is due."""

from __future__ import annotations

from safeguards.idle_clock import IdleClock


class FakeMonotonic:
    def __init__(self) -> None:
        self.ns = 5_000

    def __call__(self) -> int:
        return self.ns


def test_due_only_once_elapsed_local_time_passes_the_first_deadline():
    local = FakeMonotonic()
    clock = IdleClock(0.1, local)
    assert clock.due(1_000) is None  # nothing heard yet: no broker time to start from
    clock.heard(1_000_000)
    local.ns += 400
    assert clock.due(1_000_500) is None  # broker time is 1_000_400: not past the deadline
    assert clock.due(None) is None  # no timer at all
    local.ns += 200
    assert clock.due(1_000_500) == 1_000_600


def test_a_zero_tick_turns_it_off():
    local = FakeMonotonic()
    clock = IdleClock(0, local)
    clock.heard(1_000)
    local.ns += 10**12
    assert clock.tick is None and clock.due(2_000) is None
