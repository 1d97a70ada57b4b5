"""The idempotency guard's section: the dedup key, its window in broker time, the bound on keys held."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...errors import Problem
from ..durations import parse_duration
from ..source import SourceMap
from ..wording import duration, words
from .section import AlertDefault, Section

#: Fields that may differ between a send and its re-send, when the policy names none.
DEFAULT_IGNORE_FIELDS = ["broker_seq", "poss_dup", "recv_ts", "seq"]


def compile_section(idempotency: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": sorted(idempotency["key"]),
        "window_ns": parse_duration(idempotency["window"]),
        "max_keys": int(idempotency["max_keys"]),
        "ignore_fields": sorted(idempotency.get("ignore_fields", DEFAULT_IGNORE_FIELDS)),
    }


def explain(tables: dict[str, Any]) -> list[str]:
    i, sev = tables["idempotency"], tables["severities"]
    return [
        "DUPLICATE EVENTS (idempotency)",
        f"  Two events with the same {words(i['key'])} within {duration(i['window_ns'])} of broker time are one event: the repeat is ignored as a duplicate.",
        f"  At most {i['max_keys']:,} keys are remembered; the oldest are forgotten first.",
        f"  A repeat that differs in anything but {words(i['ignore_fields'], 'or')} raises a {sev['conflicting_duplicate']} conflicting-duplicate alert.",
    ]


def _key_fields_are_compared(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    section = data["idempotency"]
    for i, name in enumerate(section.get("ignore_fields", [])):
        if name in section["key"]:
            yield source.problem(f"'{name}' is both part of idempotency.key and ignored; a key field is always compared", ("idempotency", "ignore_fields", i))


#: The alert kinds this guard raises, with their default severities.
ALERTS = (
    AlertDefault("conflicting_duplicate", "critical"),
)

SECTION = Section("idempotency", compile_section, explain, checks=(_key_fields_are_compared,), durations=("window",), alerts=ALERTS)
