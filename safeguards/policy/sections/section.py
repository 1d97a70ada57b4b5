"""What a guard declares about its part of a policy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

from ...errors import Problem
from ..source import Path, SourceMap

#: A check of well-formed sections: the problems it finds, each placed in the file.
Check = Callable[[dict[str, Any], SourceMap], Iterator[Problem]]

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class AlertDefault:
    """An alert kind a guard raises, and how serious it is when the policy's `severities` does not say."""

    kind: str
    severity: str
    note: str | None = None  #: what the alert means, when its name does not say enough

    @property
    def schema(self) -> dict[str, Any]:
        """Its entry under the schema's `severities`, so editors show the default."""
        about = f"Severity of {self.kind} alerts (default {self.severity})"
        return {"enum": list(SEVERITIES), "description": f"{about}: {self.note}." if self.note else f"{about}.",
                "default": self.severity}


@dataclass(frozen=True)
class Section:
    """One guard's section of a policy: schema fragment, compile step, checks, durations and explanation.

    ``compile`` turns the section as written into the engine's tables; ``explain``
    reads the whole compiled policy (a section may mention another's limits,
    as intents do the clock's ack timeout); its ``checks`` run only when the
    section passed the schema (checks across sections live in :mod:`..checks`).
    ``durations`` are the keys under the section that hold durations (``"timeouts.*"``:
    every key of that mapping), so that each is checked to be positive and in range.
    ``alerts`` are the alert kinds the guard raises with their default severities (the
    schema's `severities` and the compiler's defaults are made from them).
    """

    name: str
    compile: Callable[[dict[str, Any]], dict[str, Any]]
    explain: Callable[[dict[str, Any]], list[str]]
    checks: tuple[Check, ...] = ()
    durations: tuple[str, ...] = ()
    alerts: tuple[AlertDefault, ...] = ()

    @cached_property
    def schema(self) -> dict[str, Any]:
        """The section's JSON Schema fragment: ``<name>.schema.json`` beside the modules."""
        return json.loads(resources.files(__package__).joinpath(f"{self.name}.schema.json").read_text("utf-8"))

    def duration_paths(self, section: Any) -> Iterator[Path]:
        """Where durations stand in this section as written (only the keys present)."""
        if not isinstance(section, dict):
            return
        for key in self.durations:
            if key.endswith(".*"):
                mapping = section.get(key[:-2])
                if isinstance(mapping, dict):
                    yield from ((self.name, key[:-2], name) for name in mapping)
            elif key in section:
                yield (self.name, key)

