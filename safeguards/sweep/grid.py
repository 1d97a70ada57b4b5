"""The grid of a sweep: ``--vary KEY=V1,V2`` over a policy's YAML, each point a real compiled policy.

A variant is the policy file with values replaced where they stand (same
lines, same comments), then compiled like any policy: its own hash and
identity, every check run. So a bad value is reported at its line in the
file, the way ``safeguards validate`` would, and a bad key before any work.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Location, PolicyError, Problem, UsageError
from ..policy import CompiledPolicy, compile_text
from ..policy.source import SourceMap, load_yaml


@dataclass(frozen=True)
class Vary:
    """One ``--vary KEY=V1,V2,...``: a dotted path in the policy YAML and the values it takes, as written."""

    key: str
    values: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "Vary":
        key, equals, values = text.partition("=")
        key = key.strip()
        choices = tuple(v.strip() for v in values.split(","))
        if not equals or not key:
            raise UsageError(f"--vary {text!r}: write KEY=V1,V2,..., e.g. --vary idempotency.window=12h,24h")
        if not all(choices):
            raise UsageError(f"--vary {text!r}: an empty value; separate values with single commas, e.g. {key}=1,2,3")
        return cls(key, choices)

    def describe(self) -> str:
        return f"{self.key}={','.join(self.values)}"


def parse_varies(value: str | Sequence[str] | Mapping[str, Any]) -> list[Vary]:
    """A notebook's ``vary`` parameter: ``{KEY: "V1,V2"}``, or ``KEY=V1,V2`` settings in one text or a list.

    The parameters cell holds a dict because papermill cannot read a default
    with two ``=`` on its line; ``-p vary "KEY=V1,V2 KEY2=V3,V4"`` (apart by
    spaces or ``;``) is what one types.
    """
    if isinstance(value, Mapping):
        return [Vary.parse(f"{key}={values if isinstance(values, str) else ','.join(map(str, values))}")
                for key, values in value.items()]
    texts = value.replace(";", " ").split() if isinstance(value, str) else list(value)
    return [Vary.parse(str(text)) for text in texts]


@dataclass(frozen=True)
class Variant:
    """One point of the grid: the values set, the variant's YAML text and its compiled policy."""

    settings: tuple[tuple[str, str], ...]
    text: str
    policy: CompiledPolicy

    @property
    def key(self) -> str:
        """The variant's folder name in a sweep: its content hash, so a rerun finds the same folder."""
        return self.policy.hash[:12]

    def describe(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.settings) or "(the policy as written)"


def _path(key: str) -> tuple[str | int, ...]:
    return tuple(int(part) if part.isdigit() else part for part in key.split("."))


def _locate(key: str, data: Any, source: SourceMap) -> Location:
    """Where KEY's value stands in the file, or a usage error naming the first part that is not there."""
    here, walked = data, ()
    for part in _path(key):
        where = ".".join(str(p) for p in walked) or "the policy"
        if isinstance(here, dict):
            if part not in here:
                close = difflib.get_close_matches(str(part), [str(k) for k in here], n=1)
                hint = f"; did you mean '{'.'.join(map(str, walked + (close[0],)))}'?" if close else ""
                raise UsageError(f"--vary {key}: {where} has no key '{part}'{hint} "
                                 f"(keys there: {', '.join(map(str, here))}); --vary changes a value the file sets")
        elif isinstance(here, list):
            if not isinstance(part, int) or part >= len(here):
                raise UsageError(f"--vary {key}: {where} is a list of {len(here)}; name an item by its "
                                 f"position from 0, e.g. {'.'.join(map(str, walked + (0,)))}")
        else:
            raise UsageError(f"--vary {key}: {where} is a single value, it has no '{part}'")
        here, walked = here[part], walked + (part,)
    if isinstance(here, (dict, list)):
        raise UsageError(f"--vary {key}: is a {'section' if isinstance(here, dict) else 'list'}; "
                         "--vary sets one value (name a key inside it)")
    location = source.values.get(walked)
    if location is None or location.end_col is None:
        raise UsageError(f"--vary {key}: its value spans more than one line in the file; write it on one line")
    return location


def _replace(lines: list[str], location: Location, value: str) -> None:
    line = lines[location.line - 1]
    lines[location.line - 1] = line[:location.col - 1] + value + line[location.end_col - 1:]


def plan_variants(policy: str | Path, varies: Sequence[Vary | str]) -> list[Variant]:
    """Every combination of the values of ``varies`` applied to the policy YAML at ``policy``, compiled.

    Raises :class:`UsageError` for a key that is not in the file, and
    :class:`PolicyError` (each problem at its line, naming the setting) for a
    variant that does not compile. Variants that compile to the same policy
    (``24h`` and ``1d``) are kept once.
    """
    varies = [v if isinstance(v, Vary) else Vary.parse(v) for v in varies]
    if not varies:
        raise UsageError("a sweep needs at least one --vary KEY=V1,V2,...")
    keys = [v.key for v in varies]
    if len(set(keys)) != len(keys):
        raise UsageError(f"--vary {next(k for k in keys if keys.count(k) > 1)} is given twice; list its values once")
    path = Path(policy)
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise UsageError(f"--policy {path}: cannot read ({error.strerror})") from None
    if text.lstrip().startswith("{"):
        raise UsageError(f"--policy {path}: a sweep varies the policy's YAML source; give the .yaml file, "
                         "not its compiled JSON")
    data, source = load_yaml(text, str(path))
    locations = [_locate(v.key, data, source) for v in varies]
    lines = text.split("\n")
    variants: dict[str, Variant] = {}
    for values in itertools.product(*(v.values for v in varies)):
        edited = list(lines)
        # Right to left, so two values on one line (a flow mapping) keep each other's columns.
        for location, value in sorted(zip(locations, values), key=lambda lv: (lv[0].line, lv[0].col), reverse=True):
            _replace(edited, location, value)
        settings = tuple(zip(keys, values))
        variant_text = "\n".join(edited)
        try:
            compiled = compile_text(variant_text, str(path))
        except PolicyError as error:
            named = " ".join(f"{k}={v}" for k, v in settings)
            raise PolicyError([Problem(f"with --vary {named}: {p.message}", p.location, p.source_line)
                               for p in error.problems]) from None
        variants.setdefault(compiled.hash, Variant(settings, variant_text, compiled))
    return list(variants.values())
