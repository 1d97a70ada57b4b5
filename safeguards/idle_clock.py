"""The sidecar's broker time while no input arrives, so that timeouts fire on a quiet stream.

Broker time is driven by the events' timestamps (DESIGN section 6). A stream
that goes quiet, a dropped broker connection being the very case an ack timeout
exists for, would leave it standing still and the timeout unfired. So the
sidecar waits at most a *tick* for input; then broker time is the engine's
``now`` when it last heard something, plus the local time elapsed since. Only
when that passes a timer's deadline is the engine advanced (and, with a journal,
the advance journaled, so a replay repeats it): a quiet sidecar with nothing
due writes nothing.

Elapsed time is read from the monotonic clock, not the wall clock: the
events' ``recv_ts`` may be historical (a log replayed through the pipe), and a
local clock that steps must not fire every timer at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class IdleClock:
    """Broker time estimated from the last thing heard plus elapsed local time."""

    def __init__(self, tick_seconds: float, monotonic_ns: Callable[[], int] = time.monotonic_ns) -> None:
        #: How long to wait for input before looking at the clock; None: never (time moves with events only).
        self.tick: float | None = tick_seconds if tick_seconds > 0 else None
        self._monotonic_ns = monotonic_ns
        self._heard_broker = 0
        self._heard_local = monotonic_ns()

    def heard(self, broker_now: int) -> None:
        """Input was just handled and broker time is ``broker_now``: estimates start from here."""
        self._heard_broker = broker_now
        self._heard_local = self._monotonic_ns()

    def due(self, next_deadline: int | None) -> int | None:
        """The broker time to advance to if it has passed ``next_deadline`` (the first timer's), else None."""
        if self.tick is None or next_deadline is None or self._heard_broker == 0:
            return None
        estimate = self._heard_broker + (self._monotonic_ns() - self._heard_local)
        return estimate if estimate > next_deadline else None
