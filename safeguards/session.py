"""What the engine is told about one broker session: which clocks its stamps come from, and what it records.

A live sidecar has one session and knows it: ``recv_ts`` is our clock and our
own actions (intents, submits) come through it. A historical log need not: a
FIX log without log times carries the broker's SendingTime as ``recv_ts`` (two
of the broker's clocks, which cannot show our skew), a broker-side store or a
drop copy holds no local events at all (so there are no intents to check), a
log time written to the second cannot be compared with a 500 ms tolerance as
if it were exact. The backtest reads these traits off each log
(:func:`safeguards.backtest.source.session_traits`) and hands them to the
engine with :meth:`~safeguards.core.Engine.use_session`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SessionTraits:
    """One session's clocks and contents; the defaults are a live stream's."""

    #: ``recv_ts`` is our own clock, independent of the broker's: skew can be measured.
    own_clock: bool = True
    #: How coarsely ``recv_ts`` is stamped (ns): a log time to the second is 1e9. Widens the skew tolerance.
    clock_resolution_ns: int = 0
    #: The stream carries our local events (intents, submits): an order the broker reports without one is an orphan.
    records_intents: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SessionTraits:
        return cls(**data) if data else cls()

    def describe(self) -> list[str]:
        """What a reader of a backtest's summary should know about this session (empty: nothing unusual)."""
        notes = []
        if not self.own_clock:
            notes.append("recv_ts is the broker's own clock (no local receive time): local clock skew cannot be "
                         "shown, so clock_skew is not measured")
        elif self.clock_resolution_ns >= 1_000_000:
            notes.append(f"recv_ts is stamped to {self.clock_resolution_ns / 1e9:g}s: the skew tolerance is widened "
                         "by that much")
        if not self.records_intents:
            notes.append("no local events (a broker-side log): the intents safeguard is not exercised; orders are "
                         "taken as the broker reports them, without an orphan alert each")
        return notes


LIVE = SessionTraits()
