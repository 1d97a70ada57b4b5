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
from .checks import as_list, semantic_problems
from .compiled import CompiledPolicy
from .durations import parse_duration
from .schema import default_severities, schema_problems
from .source import load_yaml

DEFAULT_IGNORE_FIELDS = ["broker_seq", "poss_dup", "recv_ts", "seq"]


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
    """The compiled tables of a policy that passed every check."""
    ordering = data["ordering"]
    stage = {name: index for index, names in enumerate(ordering["progression"]) for name in names}
    transitions: dict[str, dict[str, str]] = {}
    rules = []
    for rule in ordering["transitions"]:
        sources, targets = sorted(as_list(rule["from"])), sorted(as_list(rule["to"]))
        for source_state in sources:
            for target in targets:
                transitions.setdefault(source_state, {})[target] = rule["id"]
        rules.append({"id": rule["id"], "from": sources, "to": targets, "description": rule.get("description", "")})
    late = ordering.get("late_fills", {"after": [], "severity": "critical"})
    idempotency = data["idempotency"]
    intents = data["intents"]
    hedging = data["hedging"]
    clock = data["clock"]
    return {
        "metadata": {
            "name": data["metadata"]["name"],
            "version": int(data["metadata"]["version"]),
            "owner": data["metadata"]["owner"],
            "description": data["metadata"].get("description", ""),
        },
        "ordering": {
            "states": sorted(ordering["states"]),
            "initial": ordering["initial"],
            "terminal": sorted(ordering["terminal"]),
            "stage": stage,
            "event_state": dict(ordering["events"]),
            "transitions": transitions,
            "rules": sorted(rules, key=lambda r: r["id"]),
            "on_violation": dict(ordering["on_violation"]),
            "late_fills": {"after": sorted(late["after"]), "severity": late["severity"]},
            "check_sequence_gaps": bool(ordering.get("check_sequence_gaps", False)),
        },
        "idempotency": {
            "key": sorted(idempotency["key"]),
            "window_ns": parse_duration(idempotency["window"]),
            "max_keys": int(idempotency["max_keys"]),
            "ignore_fields": sorted(idempotency.get("ignore_fields", DEFAULT_IGNORE_FIELDS)),
        },
        "intents": {
            "required_before_submit": bool(intents["required_before_submit"]),
            "recovery": dict(intents["recovery"]),
        },
        "hedging": {
            "max_depth": int(hedging["max_depth"]),
            "liquidity_fraction": float(hedging["liquidity_fraction"]),
            "quote_max_age_ns": parse_duration(hedging["quote_max_age"]),
            "max_attempts_per_group": int(hedging["max_attempts_per_group"]),
            "max_unhedged_ns": parse_duration(hedging["max_unhedged"]),
        },
        "clock": {
            "max_skew_ns": parse_duration(clock["max_skew"]),
            "offset_window_ns": parse_duration(clock["offset_window"]),
            "future_tolerance_ns": parse_duration(clock["future_tolerance"]),
            "timeouts_ns": {name: _ns(clock["timeouts"].get(name)) for name in ("ack", "cancel", "replace", "fill")},
        },
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
