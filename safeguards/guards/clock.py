"""Clock: broker time drives the engine, and a drifting or lying clock is noticed.

Each broker or market event gives a sample ``recv_ts - broker_ts`` (network delay
plus clock offset). As NTP does, the normal offset is the minimum sample over a
window of broker time (a sliding-window minimum, O(1) per event). A sample more
than ``max_skew`` above it is ``clock_skew`` (we are late or our clock drifts);
one more than ``future_tolerance`` below it claims a broker time in the future:
``clock_skew`` too, and that timestamp is not allowed to move broker time (a
bad stamp must not fire every timeout at once). Local events move broker time
to ``recv_ts - offset``. Alerts fire when an episode starts, not per event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from .base import AT_CLOCK, BROKER_TYPES, LOCAL_TYPES, MARKET_TYPES, Guard, StepSpec



class ClockGuard(Guard):
    name = "clock"
    section = "clock"

    def __init__(self, tables, book) -> None:
        super().__init__(tables, book)
        self.max_skew_ns = int(self.config["max_skew_ns"])
        self.window_ns = int(self.config["offset_window_ns"])
        self.future_ns = int(self.config["future_tolerance_ns"])
        self._times: deque[int] = deque()
        self._offsets: deque[int] = deque()
        self.in_episode = False
        self.skew_alerts = 0

    def steps(self) -> Iterable[StepSpec]:
        return (
            StepSpec(BROKER_TYPES + MARKET_TYPES, AT_CLOCK, self.observe),
            StepSpec(LOCAL_TYPES, AT_CLOCK, self.local_time),
        )

    def observe(self, event: dict):
        book = self.book
        broker_ts = book.bts
        sample = book.rts - broker_ts
        times, offsets = self._times, self._offsets
        horizon = book.now - self.window_ns  # trusted time: a stamp from the future must not empty the window
        while times and times[0] < horizon:
            times.popleft()
            offsets.popleft()
        if offsets:
            base = offsets[0]
            if sample < base - self.future_ns:
                self._episode(event, f"broker_ts is {(base - sample) / 1e6:.3f} ms ahead of the estimated offset (a time in the future)")
                return None
            if sample > base + self.max_skew_ns:
                self._episode(event, f"recv_ts - broker_ts departs from the normal offset by {(sample - base) / 1e6:.3f} ms")
            else:
                self.in_episode = False
        while offsets and offsets[-1] >= sample:
            offsets.pop()
            times.pop()
        times.append(broker_ts)
        offsets.append(sample)
        book.offset = offsets[0]
        if broker_ts > book.now:
            book.advance(broker_ts)
        return None

    def local_time(self, event: dict):
        book = self.book
        offset = book.offset
        estimate = book.rts - (offset if offset is not None else 0)
        if estimate > book.now:
            book.advance(estimate)
        return None

    def _episode(self, event: dict, detail: str) -> None:
        if self.in_episode:
            return
        self.in_episode = True
        self.skew_alerts += 1
        book = self.book
        book.alert("clock_skew", self.severity["clock_skew"], self.name, event.get("order_id"), book.group_of(event), detail)

    def snapshot(self) -> dict[str, Any]:
        return {"offset_ns": self.book.offset, "samples": len(self._offsets), "skew_alerts": self.skew_alerts}

    def state(self) -> dict[str, Any]:
        return {"times": list(self._times), "offsets": list(self._offsets), "in_episode": self.in_episode,
                "skew_alerts": self.skew_alerts}

    def restore(self, state: dict[str, Any]) -> None:
        self._times, self._offsets = deque(state["times"]), deque(state["offsets"])
        self.in_episode, self.skew_alerts = state["in_episode"], state["skew_alerts"]
