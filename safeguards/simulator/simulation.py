"""A simulation run: groups arrive, their events merge into one arrival-ordered log, faults get labels.

Groups start at exponential intervals (mean 150 ms). Each is built whole by
:class:`.groups.GroupBuilder` with its own random stream (seeded from the run's
seed and the group's number), so a run is a pure function of its options. The
log is the events of all groups, stably sorted by ``recv_ts`` (every event of a
group arrives after the group's start), numbered by :class:`.delivery.Delivery`.

The run is cut into windows of groups (:mod:`.window`) built by workers, in
parallel when there are several; here they are settled, numbered and written in
log order, so the bytes depend neither on how many workers there are nor on how
big the windows are.

Clock faults move *all* trading to ``reducing`` (reference policy), which
blocks every later leg intent. A trading system stops opening groups then, so
the clock episodes are played in a tail of quotes after the last group ends:
the labels stay true and no group is cut short.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any

import numpy as np

from .delivery import Delivery, stamp
from .faults import NAMES
from .groups import LATENCY_NS, MS
from .labels import Label
from .options import SimOptions
from .schedule import Planner, Schedule
from .window import Cut, Spill, WindowPlan, WindowReport
from .workers import Workers, open_workers
from .writer import Sink, format_named

#: Groups a window owns: about 50,000 events. Smaller windows stay in the CPU caches better; each
#: costs a few groups built twice (those started before the guessed market is right).
WINDOW_GROUPS = 2048
SKEW_NS = 1_200 * MS
FUTURE_NS = 1_500 * MS
TAIL_STEP_NS = 100 * MS
TAIL_SYMBOL = "SPX-260320-C5000"
PROGRESS_EVERY = 1_000_000
SMALL_RUN_WINDOWS = 4
EVENTS_PER_GROUP = 25  # about, with the default rates


@dataclass
class Summary:
    events: int = 0
    groups: int = 0
    first_ns: int = 0
    last_ns: int = 0
    strategies: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    labels: list[Label] = field(default_factory=list)
    windows: int = 0
    #: groups built again because their window's guess of the market was wrong (costs time, not bytes)
    rebuilt: int = 0


def default_workers(options: SimOptions, window_groups: int = WINDOW_GROUPS) -> int:
    """One worker process per CPU, or none for a run of a few windows (starting them costs about a second)."""
    cpus = os.cpu_count() or 1
    small = window_groups * SMALL_RUN_WINDOWS
    if options.events is not None:
        small_run = options.events <= small * EVENTS_PER_GROUP
    else:
        small_run = (options.target_groups or 0) <= small
    return 0 if cpus == 1 or small_run else min(cpus, 8)


def simulate(options: SimOptions, sink: Sink, format_name: str, progress: Callable[[int, int], None] | None = None,
             workers: int = 0, window_groups: int = WINDOW_GROUPS) -> Summary:
    """Generate the log into ``sink`` (chunks rendered in ``format_name``); return the summary and the labels."""
    pool = open_workers(workers, format_name, f"S{options.seed}")
    try:
        run = _Run(options, sink, pool, progress, window_groups)
        run.run()
    finally:
        pool.close()
    return run.finish(format_name)


class _Run:
    """Hands windows to workers and takes them back in log order: settle, number, write.

    A worker is sent a message only when it has answered the last one, so it never
    waits on a full pipe while the run waits on it.
    """

    def __init__(self, options: SimOptions, sink: Sink, pool: Workers, progress: Callable[[int, int], None] | None,
                 window_groups: int) -> None:
        self.options, self.sink, self.pool, self.progress = options, sink, pool, progress
        self.schedule = Schedule(options.seed, options.rates, options.start_ns)
        self.planner = Planner(self.schedule, options.seed, options.target_groups, window_groups)
        self.delivery = Delivery(options.seed, options.rates["sequence_gap"])
        self.summary = Summary(first_ns=options.start_ns)
        self.last_end = options.start_ns
        self.clock_faults: list[str] = []
        self.generated = 0
        self.next_progress = PROGRESS_EVERY
        self.plans: dict[int, WindowPlan] = {}
        self.worker_of: dict[int, int] = {}
        self.built: set[int] = set()
        self.chunks: dict[int, tuple] = {}
        self.outbox: dict[int, list[tuple]] = {worker: [] for worker in range(pool.count)}
        self.waiting: set[int] = set(range(pool.count))  # workers that answered everything sent
        self.free: list[int] = list(range(pool.count))  # workers holding no window
        self.handover: tuple[dict[str, int], Spill] = ({}, Spill())  # market and spill for the next settle
        self.next_settle = self.next_write = 0
        self.final: tuple[int, int] | None = None  # (window, last group) once known
        self.planning = True

    def send(self, worker: int, message: tuple) -> None:
        self.outbox[worker].append(message)
        self._flush(worker)

    def _flush(self, worker: int) -> None:
        if worker in self.waiting and self.outbox[worker]:
            self.waiting.discard(worker)
            self.pool.send(worker, self.outbox[worker].pop(0))

    def run(self) -> None:
        while self.final is None or self.next_write <= self.final[0]:
            while self.free and self.planning and self.final is None:
                plan = self.planner.next()
                if plan is None:
                    self.planning = False
                    break
                self.plans[plan.number] = plan
                self.worker_of[plan.number] = worker = self.free.pop(0)
                self.send(worker, ("build", plan))
            worker, reply = self.pool.receive()
            self.waiting.add(worker)
            if reply[0] == "built":
                self.built.add(reply[1])
            elif reply[0] == "report":
                self._settled(reply[1])
            else:
                self.chunks[reply[1]] = reply[2:]
                self.free.append(worker)
            if self.final is None and self.next_settle in self.built:
                self.built.discard(self.next_settle)
                self.send(self.worker_of[self.next_settle], ("settle", self.next_settle, *self.handover))
            self._flush(worker)
            while self.next_write in self.chunks:
                self._write(*self.chunks.pop(self.next_write))
                self.next_write += 1

    def _settled(self, report: WindowReport) -> None:
        """Number a settled window and send it to be rendered; find the run's end."""
        number, options = report.number, self.options
        plan = self.plans.pop(number)
        owned = len(report.counts)
        if options.events is not None:
            reached = int(np.searchsorted(np.cumsum(report.counts) + self.generated, options.events, side="left"))
            if reached < owned:
                owned = reached + 1
                self.final = (number, plan.start + reached)
        elif plan.end == options.target_groups:
            self.final = (number, plan.end - 1)
        self.summary.rebuilt += report.rebuilt
        self.generated += sum(report.counts[:owned])
        self.last_end = max(self.last_end, *report.ends[:owned])
        self.summary.strategies.update(report.strategies[:owned])
        count: int | None = None
        last: int | None = None
        if self.final is None:
            count = int(np.searchsorted(report.recv, plan.t_hi, side="left"))
            selected: slice | np.ndarray = slice(0, count)
        else:
            last = self.final[1]
            selected = report.groups <= last
            self.planner.rewind_to(number, last)
        self.clock_faults.extend(self.planner.settled(number, owned))
        first_seq, broker_seqs, gaps = self.delivery.number(report.codes[selected], report.links[selected])
        cut = Cut(first_seq, count, last, broker_seqs, gaps)
        self.send(self.worker_of[number], ("render", number, cut))
        self.handover = (report.market, report.spill)
        self.next_settle = number + 1
        if self.progress is not None and self.generated >= self.next_progress:
            self.progress(self.generated, plan.start + owned)
            self.next_progress = (self.generated // PROGRESS_EVERY + 1) * PROGRESS_EVERY

    def _write(self, chunk: Any, labels: list[Label], count: int) -> None:
        if chunk is not None:
            self.sink.write(chunk)
        self.summary.labels.extend(labels)
        self.summary.events += count

    def finish(self, format_name: str) -> Summary:
        """The clock tail after the last group, and the summary."""
        assert self.final is not None
        summary = self.summary
        number, last = self.final
        summary.groups = last + 1
        summary.windows = number + 1
        last_end = self.last_end
        tail = _clock_tail(self.clock_faults, last_end + 1_000 * MS, self.schedule.master)
        if tail:
            events, labels = tail
            last_end = max(e["recv_ts"] for e in events)
            summary.labels.extend(labels)
            first_seq, _, _ = self.delivery.number(np.zeros(len(events), dtype=np.int8),
                                                   np.zeros(len(events), dtype=np.int64))
            stamp(events, first_seq, [])
            self.sink.write(format_named(format_name).render(events))
            summary.events += len(events)
        summary.last_ns = last_end
        summary.faults = Counter(label.fault for label in summary.labels)
        for name in NAMES:
            summary.faults.setdefault(name, 0)
        return summary


def _clock_tail(faults: list[str], start: int, rng: Random) -> tuple[list[dict], list[Label]] | None:
    """Quotes after the last group, with each clock fault between runs of normal quotes.

    A skew episode is three quotes received 1.2 s late (our clock ran ahead, then
    stepped back); a future timestamp is one quote whose broker_ts is 1.5 s ahead.
    Normal quotes between faults end each episode, so each one raises its own alert.
    """
    if not faults:
        return None
    events: list[dict] = []
    labels: list[Label] = []
    t = start

    def quote(extra_recv: int = 0, extra_broker: int = 0) -> dict:
        nonlocal t
        t += TAIL_STEP_NS
        event = {"seq": 0, "source": "market", "type": "quote", "symbol": TAIL_SYMBOL,
                 "bid_px": 120.0, "bid_qty": 200, "ask_px": 120.2, "ask_qty": 200,
                 "broker_ts": t + extra_broker, "recv_ts": t + LATENCY_NS + rng.randrange(1_000_000) + extra_recv}
        events.append(event)
        return event

    for _ in range(3):
        quote()
    for name in faults:
        if name == "clock_skew":
            labels.append(Label(name, quote(extra_recv=SKEW_NS), None, None))
            quote(extra_recv=SKEW_NS)
            quote(extra_recv=SKEW_NS)
        else:
            labels.append(Label(name, quote(extra_broker=FUTURE_NS), None, None))
        for _ in range(3):
            quote()
    return events, labels
