"""The clock guard's section: skew tolerance, the offset's window, future timestamps, broker-timed timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...errors import Problem
from ..durations import parse_duration
from ..source import SourceMap
from ..wording import duration
from .section import AlertDefault, Section

#: The order timeouts a policy may set, each measured in broker time.
TIMEOUTS = ("ack", "cancel", "replace", "fill")


def _ns(value: str | None) -> int | None:
    return None if value is None else parse_duration(value)


def compile_section(clock: dict[str, Any]) -> dict[str, Any]:
    return {
        "max_skew_ns": parse_duration(clock["max_skew"]),
        "offset_window_ns": parse_duration(clock["offset_window"]),
        "future_tolerance_ns": parse_duration(clock["future_tolerance"]),
        "timeouts_ns": {name: _ns(clock["timeouts"].get(name)) for name in TIMEOUTS},
    }


def explain(tables: dict[str, Any]) -> list[str]:
    c = tables["clock"]
    t = c["timeouts_ns"]
    fill = f"fill {duration(t['fill'])}" if t["fill"] is not None else "no fill timeout"
    replace = f"replace {duration(t['replace'])}" if t.get("replace") is not None else "no replace timeout"
    return [
        "CLOCK (clock)",
        "  Time is the broker's time. The normal offset between our clock and the broker's is the smallest "
        f"seen over the last {duration(c['offset_window_ns'])}; an event departing from it by more than {duration(c['max_skew_ns'])} raises a clock-skew alert,",
        f"  and a broker time more than {duration(c['future_tolerance_ns'])} ahead of now raises a clock-skew alert too.",
        f"  Timeouts (broker time): ack {duration(t['ack'])}, cancel {duration(t['cancel'])}, {replace}, {fill}.",
    ]


def _clock_limits_agree(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    clock = data["clock"]
    try:
        skew, window = parse_duration(clock["max_skew"]), parse_duration(clock["offset_window"])
    except ValueError:
        return
    if 0 < window <= skew:
        yield source.problem(
            f"clock.offset_window ({clock['offset_window']}) is not longer than clock.max_skew ({clock['max_skew']}): "
            "the normal offset cannot be told from a skew that long; widen the window",
            ("clock", "offset_window"),
        )


#: The alert kinds this guard raises, with their default severities.
ALERTS = (
    AlertDefault("clock_skew", "warning"),
)

SECTION = Section("clock", compile_section, explain, checks=(_clock_limits_agree,),
                  durations=("max_skew", "offset_window", "future_tolerance", "timeouts.*"), alerts=ALERTS)
