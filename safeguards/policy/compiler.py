"""YAML policy -> compiled tables.

Everything a person writes for readability is normalised away here: durations
become integer nanoseconds, sets become sorted lists, transition rules become
a from -> to -> rule table, defaults are filled in. So reformatting, comments
and key or list order never change the hash, and any change of meaning does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import Location, PolicyError, Problem
from .checks import semantic_problems
from .compiled import CompiledPolicy
from .durations import parse_duration
from .schema import default_severities, schema_problems
from .sections import GUARD_SECTIONS
from .source import load_yaml


def compile_text(text: str, path: str = "<policy>") -> CompiledPolicy:
    """Validate and compile policy YAML; raise PolicyError with every problem found."""
    data, source = load_yaml(text, path)
    problems, broken = schema_problems(data, source)
    problems = source.problems + problems + semantic_problems(data, source, broken)
    if problems:
        raise PolicyError(problems)
    return CompiledPolicy.from_tables(compile_tables(data))


def compile_file(path: str | Path) -> CompiledPolicy:
    return compile_text(_read_text(path), str(path))


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([Problem("no such file", Location(str(path), 1, 1))]) from None
    except UnicodeDecodeError as error:
        raise PolicyError([Problem(f"not UTF-8 text (byte {error.start}); save the file as UTF-8", Location(str(path), 1, 1))]) from None
    except OSError as error:
        raise PolicyError([Problem(f"cannot read: {error.strerror}", Location(str(path), 1, 1))]) from None


def load_policy(path: str | Path) -> CompiledPolicy:
    """A YAML policy, a compiled JSON policy or a runtime folder (`runtime/<name>`), interchangeably."""
    from ..registry import is_runtime_folder, load_runtime  # the registry builds on this module

    if is_runtime_folder(Path(path)):
        return load_runtime(path)
    text = _read_text(path)
    if text.lstrip().startswith("{") and '"compiled_format"' in text:
        return CompiledPolicy.from_json(text, str(path))
    return compile_text(text, str(path))


def _ns(value: str | None) -> int | None:
    return None if value is None else parse_duration(value)


def compile_tables(data: dict[str, Any]) -> dict[str, Any]:
    """The compiled tables of a policy that passed every check: metadata, each guard's section, the rest."""
    return {
        "metadata": {
            "name": data["metadata"]["name"],
            "version": int(data["metadata"]["version"]),
            "owner": data["metadata"]["owner"],
            "description": data["metadata"].get("description", ""),
        },
        **{section.name: section.compile(data[section.name]) for section in GUARD_SECTIONS},
        "severities": {**default_severities(), **data.get("severities", {})},
        "escalation": sorted(
            (
                {
                    "id": rule["id"],
                    "alerts": sorted(rule["alerts"]),
                    "after_terminal": bool(rule.get("after_terminal", False)),
                    "min_severity": rule.get("min_severity"),
                    "scope": rule["scope"],
                    "to": rule["to"],
                    "clear_after_ns": _ns(rule.get("clear_after")),
                }
                for rule in data["escalation"]
            ),
            key=lambda r: r["id"],
        ),
        "promotion": {
            "gates": sorted(
                (
                    {
                        "id": gate["id"],
                        "metric": gate["metric"],
                        "per_fault_kind": bool(gate.get("per_fault_kind", False)),
                        "dataset": gate.get("dataset", "any"),
                        "at_least": None if gate.get("at_least") is None else float(gate["at_least"]),
                        "at_most": None if gate.get("at_most") is None else float(gate["at_most"]),
                        "description": gate.get("description", ""),
                    }
                    for gate in data["promotion"]["gates"]
                ),
                key=lambda g: g["id"],
            )
        },
    }
