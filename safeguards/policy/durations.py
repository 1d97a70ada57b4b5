"""Durations as people write them (`250ms`, `5s`, `1m30s`, `24h`), held as integer nanoseconds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ..events import INT64_MAX

NANOS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}

@dataclass(frozen=True)
class Span:
    """A duration as a value among others (in a diff): nanoseconds, or None where there is none (no timeout)."""

    nanos: int | None


class UnusableDuration(ValueError):
    """Written as a duration (the schema's pattern holds), but not one the engine can use."""


_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|d)\s*")


def parse_duration(text: str) -> int:
    """`"1m30s"` -> 90_000_000_000. Raises ValueError with the reason on anything else."""
    if not isinstance(text, str):
        raise ValueError(f"a duration is written as text like 5s or 250ms, not {text!r}")
    position, total, matched = 0, Decimal(0), False
    while position < len(text):
        match = _PART.match(text, position)
        if not match:
            raise ValueError(f"cannot read {text!r} as a duration; write a number and a unit, e.g. 250ms, 5s, 24h")
        total += Decimal(match.group(1)) * NANOS[match.group(2)]
        position, matched = match.end(), True
    if not matched:
        raise ValueError("empty duration; write e.g. 5s")
    if total != total.to_integral_value():
        raise UnusableDuration(f"{text!r} is finer than a nanosecond; write whole nanoseconds")
    if total > INT64_MAX:
        raise UnusableDuration(f"{text!r} is longer than the engine can hold (about 292 years); write a shorter span")
    return int(total)


def format_duration(nanos: int) -> str:
    """The exact human form: 90_000_000_000 -> `1m30s`, 86_400_000_000_000 -> `24h`."""
    if nanos == 0:
        return "0s"
    parts: list[str] = []
    remaining = nanos
    for unit in ("h", "m", "s"):
        whole, remaining = divmod(remaining, NANOS[unit])
        if whole:
            parts.append(f"{whole}{unit}")
    for unit in ("ms", "us", "ns"):
        if remaining and remaining % NANOS[unit] == 0:
            parts.append(f"{remaining // NANOS[unit]}{unit}")
            break
    return "".join(parts)
