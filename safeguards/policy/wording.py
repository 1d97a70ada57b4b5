"""Small pieces of English the policy's explanations share."""

from __future__ import annotations

from .durations import format_duration


def words(items: list[str], last: str = "and") -> str:
    """``a, b and c``."""
    items = list(items)
    if not items:
        return "none"
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def duration(nanos: int | None) -> str:
    return "none" if nanos is None else format_duration(nanos)
