"""The run's master random stream: each group's fault plan and start time, and the clock faults.

These draws never depend on what a group does, so the whole schedule can be drawn
ahead of building the groups, which is what lets windows of groups be built in
parallel. A run sized in events only learns where it ends after the fact, so the
stream can be rewound to a window's first group and drawn again up to the last
group: the clock tail then continues the stream exactly where a sequential run
would have.
"""

from __future__ import annotations

from random import Random

from .faults import ADDED, CLOCK, SHAPING
from .groups import MS, GroupPlan
from .window import WindowPlan

MEAN_GAP_NS = 150 * MS


def plan_group(rng: Random, rates: dict[str, float]) -> GroupPlan:
    """Draw a group's faults: the first shaping kind that fires, and any added kinds."""
    shape = None
    for name in SHAPING:
        rate = rates[name]
        if rate and rng.random() < rate:
            shape = name
            break
    added = frozenset(name for name in ADDED if rates[name] and rng.random() < rates[name])
    return GroupPlan(shape, added, rates["reorder"], rates["duplicate"])


class Schedule:
    """Draws group after group: (plan, start ns, clock faults it adds to the tail)."""

    def __init__(self, seed: int, rates: dict[str, float], start_ns: int) -> None:
        self.master = Random(seed)
        self.rates = rates
        self.index = 0
        #: the start of the next group to be drawn
        self.t0 = start_ns

    def draw(self) -> tuple[GroupPlan, int, list[str]]:
        master, rates = self.master, self.rates
        plan = plan_group(master, rates)
        clock = [name for name in CLOCK if rates[name] and master.random() < rates[name]]
        t0 = self.t0
        self.t0 += int(master.expovariate(1.0) * MEAN_GAP_NS) + 1
        self.index += 1
        return plan, t0, clock

    def mark(self) -> tuple[object, int, int]:
        """A point to rewind to (before the next group's draws)."""
        return self.master.getstate(), self.index, self.t0

    def rewind(self, mark: tuple[object, int, int]) -> None:
        state, self.index, self.t0 = mark
        self.master.setstate(state)  # type: ignore[arg-type]


class Planner:
    """Cuts the schedule into windows of ``window_groups`` groups (see :mod:`.window`), ahead of building them.

    Remembers, per window not yet settled, where the schedule stood before it and
    its groups' clock faults: the run learns which group is its last only then.
    """

    def __init__(self, schedule: Schedule, seed: int, target_groups: int | None, window_groups: int) -> None:
        self.schedule = schedule
        self.seed = seed
        self.target_groups = target_groups
        self.window_groups = window_groups
        self.number = 0
        self.marks: dict[int, tuple[object, int, int]] = {}
        self.clocks: dict[int, list[list[str]]] = {}

    def next(self) -> WindowPlan | None:
        """The next window, or None when the run is sized in groups and they are all planned."""
        schedule = self.schedule
        size = self.window_groups
        if self.target_groups is not None:
            size = min(size, self.target_groups - schedule.index)
            if size <= 0:
                return None
        number = self.number
        self.number += 1
        self.marks[number] = schedule.mark()
        start = schedule.index
        groups, clocks = [], []
        for _ in range(size):
            plan, t0, clock = schedule.draw()
            groups.append((plan, t0))
            clocks.append(clock)
        self.clocks[number] = clocks
        return WindowPlan(number, self.seed, start, groups, schedule.t0)

    def settled(self, number: int, groups: int) -> list[str]:
        """The clock faults of the window's first ``groups`` groups; forget the window."""
        self.marks.pop(number)
        return [name for clock in self.clocks.pop(number)[:groups] for name in clock]

    def rewind_to(self, number: int, last: int) -> None:
        """Put the schedule right after group ``last`` of window ``number`` (the run's last)."""
        schedule = self.schedule
        schedule.rewind(self.marks[number])
        while schedule.index <= last:
            schedule.draw()
