"""Clock: broker time drives the engine, and a drifting or lying clock is noticed.

The engine moves broker time before the guards' steps (:meth:`ClockGuard.move_time`,
called for every valid event): a broker or market event moves it to its
``broker_ts``, a local event to ``recv_ts - offset`` (our clock corrected by the
estimated offset). Due timers fire then, whatever the event's verdict turns out
to be (a blocked intent still tells the engine what time it is).

Each broker or market event gives a sample ``recv_ts - broker_ts`` (network delay
plus clock offset). As NTP does, the normal offset is the minimum sample over a
window of broker time (a sliding-window minimum, O(1) per event). A sample more
than ``max_skew`` above it is ``clock_skew`` (we are late or our clock drifts);
one more than ``future_tolerance`` below it claims a broker time in the future:
``clock_skew`` too, and that timestamp is not allowed to move broker time (a
bad stamp must not fire every timeout at once). Alerts fire when an episode
starts, not per event. When the window has emptied (a quiet spell), the last
estimate stands in for it, so the first event after it is compared too.

Each broker session has its own clocks (:class:`~safeguards.session.SessionTraits`):
its own offset window, and no samples at all when its ``recv_ts`` is not our clock
(a log stamped with the broker's SendingTime: the difference between two of the
broker's clocks is not our skew). A session whose ``recv_ts`` is stamped coarsely
(a log time to the second) widens its tolerance by that resolution. Re-sends
(``poss_dup``) carry their first sending's ``broker_ts`` and are not sampled.

Until a session's first sample, our clock is taken as the broker's. The first
sample says how far apart they are: time and every pending deadline set under
the guess move by that offset once, so an ack timeout set from our clock is
measured in the broker's (a broker 17 s ahead of us does not time out every
order's acknowledgement).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Any

from ..session import LIVE, SessionTraits
from .base import AT_CLOCK, BROKER_TYPES, MARKET_TYPES, Guard, StepSpec


class _SessionClock:
    """One session's offset window and skew episode."""

    __slots__ = ("traits", "times", "offsets", "in_episode", "offset")

    def __init__(self, traits: SessionTraits) -> None:
        self.traits = traits
        self.times: deque[int] = deque()
        self.offsets: deque[int] = deque()
        self.in_episode = False
        #: The last estimate (None until the first sample).
        self.offset: int | None = None

    def state(self) -> list[Any]:
        return [self.traits.to_dict(), list(self.times), list(self.offsets), self.in_episode, self.offset]

    @classmethod
    def from_state(cls, row: list[Any]) -> _SessionClock:
        clock = cls(SessionTraits.from_dict(row[0]))
        clock.times, clock.offsets = deque(row[1]), deque(row[2])
        clock.in_episode, clock.offset = row[3], row[4]
        return clock


class ClockGuard(Guard):
    name = "clock"
    section = "clock"

    def __init__(self, tables, book) -> None:
        super().__init__(tables, book)
        self.max_skew_ns = int(self.config["max_skew_ns"])
        self.window_ns = int(self.config["offset_window_ns"])
        self.future_ns = int(self.config["future_tolerance_ns"])
        self.session: Hashable = None
        self.clock = _SessionClock(LIVE)
        self.sessions: dict[Hashable, _SessionClock] = {None: self.clock}
        self.skew_alerts = 0
        #: Whether any sample has told broker time apart from ours yet (the one re-base happens before).
        self.rebased = False

    def steps(self) -> Iterable[StepSpec]:
        return (StepSpec(BROKER_TYPES + MARKET_TYPES, AT_CLOCK, self.observe),)

    # --- time: before every guard ------------------------------------------------------

    def move_time(self, source: str) -> None:
        """Phase two of every valid event: broker time moves to the event's trusted time; due timers fire."""
        book, clock = self.book, self.clock
        if source == "local":
            offset = clock.offset
            estimate = book.rts - (offset if offset is not None else 0)
            if estimate > book.now:
                book.advance(estimate)
            return
        broker_ts = book.bts
        if clock.traits.own_clock:
            sample = book.rts - broker_ts
            if clock.offset is None:
                self._learn(sample)
            else:
                base = clock.offsets[0] if clock.offsets else clock.offset
                if sample < base - self.future_ns:  # a time in the future: must not move time (observe alerts)
                    return
        if broker_ts > book.now:
            book.advance(broker_ts)

    def _learn(self, sample: int) -> None:
        """The session's first sample: our clock was taken as the broker's; re-base what was set under that guess."""
        self.clock.offset = self.book.offset = sample
        if not self.rebased:
            self.rebased = True
            if sample != 0 and self.book.now:
                self.book.rebase(-sample)  # broker time = our time - offset

    # --- the step: sample the offset, notice skew ----------------------------------------

    def observe(self, event: dict):
        clock = self.clock
        if not clock.traits.own_clock or event.get("poss_dup"):
            return None
        book = self.book
        broker_ts = book.bts
        sample = book.rts - broker_ts
        times, offsets = clock.times, clock.offsets
        horizon = book.now - self.window_ns  # trusted time: a stamp from the future must not empty the window
        while times and times[0] < horizon:
            times.popleft()
            offsets.popleft()
        base = offsets[0] if offsets else clock.offset
        if base is not None:
            if sample < base - self.future_ns:
                self._episode(event, f"broker_ts is {(base - sample) / 1e6:.3f} ms ahead of the estimated offset (a time in the future)")
                return None
            if sample > base + self.max_skew_ns + clock.traits.clock_resolution_ns:
                self._episode(event, f"recv_ts - broker_ts departs from the normal offset by {(sample - base) / 1e6:.3f} ms")
            else:
                clock.in_episode = False
        while offsets and offsets[-1] >= sample:
            offsets.pop()
            times.pop()
        times.append(broker_ts)
        offsets.append(sample)
        clock.offset = book.offset = offsets[0]
        return None

    def _episode(self, event: dict, detail: str) -> None:
        clock = self.clock
        if clock.in_episode:
            return
        clock.in_episode = True
        self.skew_alerts += 1
        book = self.book
        book.alert("clock_skew", self.severity["clock_skew"], self.name, event.get("order_id"), book.group_of(event), detail)

    # --- sessions ---------------------------------------------------------------------

    def use_session(self, key: Hashable, traits: SessionTraits = LIVE) -> None:
        if key != self.session or traits != self.clock.traits:
            self.session = key
            clock = self.sessions.get(key)
            if clock is None:
                clock = self.sessions[key] = _SessionClock(traits)
            clock.traits = traits
            self.clock = clock
            self.book.offset = clock.offset

    def snapshot(self) -> dict[str, Any]:
        return {"offset_ns": self.book.offset, "samples": len(self.clock.offsets), "skew_alerts": self.skew_alerts}

    def state(self) -> dict[str, Any]:
        return {"session": self.session, "sessions": [[key, clock.state()] for key, clock in self.sessions.items()],
                "skew_alerts": self.skew_alerts, "rebased": self.rebased}

    def restore(self, state: dict[str, Any]) -> None:
        self.skew_alerts = state["skew_alerts"]
        if "sessions" not in state:  # a checkpoint from before sessions: one session, None
            clock = _SessionClock(LIVE)
            clock.times, clock.offsets = deque(state["times"]), deque(state["offsets"])
            clock.in_episode, clock.offset = state["in_episode"], self.book.offset
            self.session, self.sessions, self.rebased = None, {None: clock}, self.book.offset is not None
        else:
            self.session, self.rebased = state["session"], state["rebased"]
            self.sessions = {key: _SessionClock.from_state(row) for key, row in state["sessions"]}
        self.clock = self.sessions[self.session]
