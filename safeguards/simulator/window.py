"""A window of a run: the groups from one start time to the next window's, built on their own.

A window's slice of the log is every event whose ``recv_ts`` falls between its
first group's start and the next window's: its own groups' events, minus the
late ones (they *spill* into the next window, which gets them handed over), plus
what the previous window spilled. Inside a window the log order is a stable sort
by ``recv_ts`` of the groups in order, as a sequential run writes it.

Groups interact only through the market's symbol reservations, and a group's
build depends on the market only through which strategies it draws before one is
free. So a window is built in three steps:

1. **build** (in parallel with other windows): every group, against a market
   that starts empty, a guess;
2. **settle** (in log order, cheap): replay the reservations from the true market
   at the window's start, handed over with the previous window's spill; a group
   whose strategy draws would differ there is built again; sort, and describe the
   events for numbering (:class:`WindowReport`);
3. **render**: once numbered (:class:`Cut`), the window's slice of the log.

:class:`WindowWorker` runs these steps, in a worker process or in-process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from random import Random
from typing import Any

import numpy as np

from .delivery import BROKER, ORIGINAL, RESEND, stamp
from .groups import GroupBuilder, GroupPlan, GroupResult
from .labels import Label
from .market import Market
from .writer import Format, format_named

_POSITION_BITS = 16  # an event's link: group index << 16 | its position among the group's events
_RECV = itemgetter("recv_ts")


@dataclass(frozen=True)
class WindowPlan:
    number: int
    seed: int
    start: int  # first group
    groups: list[tuple[GroupPlan, int]]  # (plan, t0) per group
    t_hi: int  # start of the next window's first group

    @property
    def end(self) -> int:
        return self.start + len(self.groups)


@dataclass
class Spill:
    """Events of a window's groups that arrive in a later window, described as that window needs them."""

    events: list[dict] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    links: list[int] = field(default_factory=list)
    labels: list[tuple[int, Label]] = field(default_factory=list)


@dataclass
class WindowReport:
    """What the run needs of a settled window: sizes, the true market after it, one code per event in log order."""

    number: int
    rebuilt: int  # groups whose guess was wrong
    counts: list[int]  # per group: events
    ends: list[int]  # per group: last recv_ts
    strategies: list[str]
    market: dict[str, int]  # reservations still holding at ``t_hi``
    spill: Spill
    recv: np.ndarray  # int64 per event in log order (spilled events included, last)
    groups: np.ndarray  # int64 group index per event
    codes: np.ndarray  # int8 delivery code per event (see :mod:`.delivery`)
    links: np.ndarray  # int64 link per event


@dataclass(frozen=True)
class Cut:
    """Which events of a window go in the log, and their numbers (from :class:`.delivery.Delivery`)."""

    first_seq: int
    count: int | None  # the first ``count`` events, or, in the run's last window,
    last: int | None  # every event of groups up to ``last`` (nothing spills on)
    broker_seqs: list[int]
    gaps: list[int]


class Window:
    """One window in a worker, from build to render."""

    def __init__(self, plan: WindowPlan, run_tag: str, market: Market) -> None:
        self.plan = plan
        self.run_tag = run_tag
        self.market = market
        market.busy_until = {}  # the guess: nothing reserved (a market's price caches outlive windows)
        self.results = [self._build(index, t0, group_plan)
                        for index, (group_plan, t0) in enumerate(plan.groups, plan.start)]
        self.events: list[dict] = []
        self.groups = np.zeros(0, dtype=np.int64)
        self.labels: list[tuple[int, Label]] = []

    def _build(self, index: int, t0: int, group_plan: GroupPlan) -> GroupResult:
        rng = Random((self.plan.seed << 32) | index)
        return GroupBuilder(index, rng, self.market, t0, group_plan, self.run_tag).build()

    def settle(self, market: dict[str, int], spill: Spill) -> WindowReport:
        plan, results = self.plan, self.results
        self.market.busy_until = dict(market)
        rebuilt = 0
        for offset, (group_plan, t0) in enumerate(plan.groups):
            result = results[offset]
            if self.market.would_choose(result.tried, t0):
                self.market.reserve(result.tried[-1], result.end_ns)
            else:
                results[offset] = self._build(plan.start + offset, t0, group_plan)
                rebuilt += 1
        events, groups, codes, links, labels = spill.events, spill.groups, spill.codes, spill.links, spill.labels
        for index, result in enumerate(results, plan.start):
            _describe(index, result, events, groups, codes, links, labels)
        recv = np.fromiter(map(_RECV, events), dtype=np.int64, count=len(events))
        order = np.argsort(recv, kind="stable")
        self.events = [events[i] for i in order.tolist()]
        self.groups = np.asarray(groups, dtype=np.int64)[order]
        self.labels = labels
        recv, codes_array, links_array = recv[order], np.asarray(codes, dtype=np.int8)[order], \
            np.asarray(links, dtype=np.int64)[order]
        spilled = int(np.searchsorted(recv, plan.t_hi, side="left"))
        out = Spill(self.events[spilled:], self.groups[spilled:].tolist(), codes_array[spilled:].tolist(),
                    links_array[spilled:].tolist(),
                    [(index, label) for index, label in labels if label.event["recv_ts"] >= plan.t_hi])  # type: ignore[index]
        return WindowReport(
            plan.number, rebuilt, [len(r.events) for r in results], [r.end_ns for r in results],
            [r.strategy for r in results], self.market.holding_at(plan.t_hi), out,
            recv, self.groups, codes_array, links_array,
        )

    def cut(self, cut: Cut) -> tuple[list[dict], list[Label]]:
        """The window's events in the log, numbered, and the labels whose events they are (see :meth:`.Label.numbered`)."""
        if cut.last is None:
            events = self.events[:cut.count]
            labels = [label for _, label in self.labels if label.event["recv_ts"] < self.plan.t_hi]  # type: ignore[index]
        else:
            keep = (self.groups <= cut.last).tolist()
            events = [event for event, kept in zip(self.events, keep) if kept]
            labels = [label for index, label in self.labels if index <= cut.last]
        stamp(events, cut.first_seq, cut.broker_seqs)
        for position in cut.gaps:
            event = events[position]
            order_id = event["order_id"]
            labels.append(Label("sequence_gap", event, order_id, order_id.partition("-")[0]))
        return events, [label.numbered() for label in labels]


def _describe(index: int, result: GroupResult, events: list[dict], groups: list[int], codes: list[int],
              links: list[int], labels: list[tuple[int, Label]]) -> None:
    """Append a group's events with their delivery codes and links, and its labels (orphans resolved)."""
    mine = result.events
    events.extend(mine)
    groups.extend([index] * len(mine))
    first = len(codes)
    codes.extend([BROKER if event["source"] == "broker" else 0 for event in mine])
    links.extend([0] * len(mine))
    if result.resends:
        position = {id(event): n for n, event in enumerate(mine)}
        for copy, original in result.resends:
            at, of = position[id(copy)], position[id(original)]
            codes[first + at], links[first + at] = RESEND, (index << _POSITION_BITS) | of
            codes[first + of], links[first + of] = ORIGINAL, (index << _POSITION_BITS) | of
    for label in result.labels:
        if label.anchor == "first_broker_event":
            label.event = _first_broker_event(mine, label.order_id)
        labels.append((index, label))


def _first_broker_event(events: list[dict], order_id: str | None) -> dict:
    """The order's first broker event in log order (the earliest; the first made among equals)."""
    return min((event for event in events if event["source"] == "broker" and event["order_id"] == order_id),
               key=_RECV)


class WindowWorker:
    """Answers build, settle and render messages; holds each window from build to render.

    Windows share one market: its price caches; each step starts by setting the reservations it works from.
    """

    def __init__(self, format_name: str, run_tag: str) -> None:
        self.format: Format = format_named(format_name)
        self.run_tag = run_tag
        self.windows: dict[int, Window] = {}
        self.market = Market()

    def handle(self, message: tuple) -> tuple:
        kind = message[0]
        if kind == "build":
            plan: WindowPlan = message[1]
            self.windows[plan.number] = Window(plan, self.run_tag, self.market)
            return ("built", plan.number)
        if kind == "settle":
            number, market, spill = message[1:]
            return ("report", self.windows[number].settle(market, spill))
        if kind == "render":
            number, cut = message[1:]
            events, labels = self.windows.pop(number).cut(cut)
            chunk: Any = self.format.render(events) if events else None
            return ("chunk", number, chunk, labels, len(events))
        raise ValueError(f"unknown message {kind!r}")
