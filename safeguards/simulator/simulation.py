"""A simulation run: groups arrive, their events merge into one arrival-ordered log, faults get labels.

Groups start at exponential intervals (mean 150 ms). Each is built whole by
:class:`.groups.GroupBuilder` with its own random stream (seeded from the run's
seed and the group's number), so a run is a pure function of its options.
Events are kept in a buffer and released in ``recv_ts`` order once no later
group can still add an earlier one (every event of a group arrives after the
group's start).

Clock faults move *all* trading to ``reducing`` (reference policy), which
blocks every later leg intent. A trading system stops opening groups then, so
the clock episodes are played in a tail of quotes after the last group ends:
the labels stay true and no group is cut short.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from random import Random

from .delivery import Delivery
from .faults import ADDED, CLOCK, NAMES, SHAPING
from .groups import LATENCY_NS, MS, GroupBuilder, GroupPlan
from .labels import Label
from .market import Market
from .options import SimOptions
from .writer import EventWriter

MEAN_GAP_NS = 150 * MS
FLUSH_EVERY_GROUPS = 256
SKEW_NS = 1_200 * MS
FUTURE_NS = 1_500 * MS
TAIL_STEP_NS = 100 * MS
TAIL_SYMBOL = "SPX-260320-C5000"


@dataclass
class Summary:
    events: int = 0
    groups: int = 0
    first_ns: int = 0
    last_ns: int = 0
    strategies: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    labels: list[Label] = field(default_factory=list)


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


def simulate(options: SimOptions, writer: EventWriter, progress: Callable[[int, int], None] | None = None) -> Summary:
    """Generate the log into ``writer``; return the summary and the labels (numbered)."""
    rates = options.rates
    master = Random(options.seed)
    market = Market()
    delivery = Delivery(options.seed, rates["sequence_gap"])
    summary = Summary(first_ns=options.start_ns)
    target_groups, target_events = options.target_groups, options.events
    pending: list[dict] = []
    generated = 0
    next_progress = 1_000_000
    t0 = options.start_ns
    last_end = t0
    clock_faults: list[str] = []
    index = 0
    by_recv = itemgetter("recv_ts")
    run_tag = f"S{options.seed}"

    def release(before: int | None) -> None:
        nonlocal pending
        pending.sort(key=by_recv)
        if before is None:
            ready, pending = pending, []
        else:
            cut = _first_at_or_after(pending, before)
            ready, pending = pending[:cut], pending[cut:]
        delivery.number(ready)
        writer.write(ready)
        summary.events += len(ready)

    while (generated < target_events) if target_groups is None else (index < target_groups):
        plan = plan_group(master, rates)
        for name in CLOCK:
            if rates[name] and master.random() < rates[name]:
                clock_faults.append(name)
        result = GroupBuilder(index, Random((options.seed << 32) | index), market, t0, plan, run_tag).build()
        pending.extend(result.events)
        generated += len(result.events)
        for copy, original in result.resends:
            delivery.resend_of[id(copy)] = original
        for label in result.labels:
            if label.anchor == "first_broker_event":
                delivery.first_event_of[label.order_id] = label
        summary.labels.extend(result.labels)
        summary.strategies[result.strategy] += 1
        last_end = max(last_end, result.end_ns)
        index += 1
        t0 += int(master.expovariate(1.0) * MEAN_GAP_NS) + 1
        if index % FLUSH_EVERY_GROUPS == 0:
            release(t0)
            if progress is not None and generated >= next_progress:
                progress(generated, index)
                next_progress += 1_000_000
    release(None)
    summary.groups = index
    tail = _clock_tail(clock_faults, last_end + 1_000 * MS, master)
    if tail:
        events, labels = tail
        last_end = max(e["recv_ts"] for e in events)
        summary.labels.extend(labels)
        delivery.number(events)
        writer.write(events)
        summary.events += len(events)
    summary.labels.extend(delivery.labels)
    summary.last_ns = last_end
    summary.faults = Counter(label.fault for label in summary.labels)
    for name in NAMES:
        summary.faults.setdefault(name, 0)
    return summary


def _first_at_or_after(events: list[dict], t: int) -> int:
    low, high = 0, len(events)
    while low < high:
        mid = (low + high) // 2
        if events[mid]["recv_ts"] < t:
            low = mid + 1
        else:
            high = mid
    return low


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
