"""Checks the schema cannot express, run on the sections that passed it.

Each guard's own checks live with its section (:mod:`.sections`); here are the
checks of the rest of the policy and across sections (durations, escalation,
gates, rule ids), each reporting at the exact key or list item that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..errors import Problem
from .durations import UnusableDuration, parse_duration
from .schema import where
from .sections import GUARD_SECTIONS, Check
from .source import Path, SourceMap

RATE_METRICS = {"recall", "false_alert_rate"}
_CHECKS: list[tuple[tuple[str, ...], Check]] = []


def _needs(*sections: str) -> Callable[[Check], Check]:
    """Register a check that runs only when these sections passed the schema."""

    def register(check: Check) -> Check:
        _CHECKS.append((sections, check))
        return check

    return register


def semantic_problems(data: dict[str, Any], source: SourceMap, broken: set[str]) -> list[Problem]:
    """Run every check on the sections that passed the schema; skip checks whose sections did not."""
    if not isinstance(data, dict):
        return []
    sound = {name: value for name, value in data.items() if name not in broken}
    problems: list[Problem] = []
    for section in GUARD_SECTIONS:
        if section.name in sound:
            for check in section.checks:
                problems.extend(check(sound, source))
    for sections, check in _CHECKS:
        if all(name in sound for name in sections):
            problems.extend(check(sound, source))
    return problems


def duration_paths(data: dict[str, Any]) -> Iterator[Path]:
    """Every place a duration stands in a policy: the guards' sections declare theirs, escalation has clear_after."""
    for section in GUARD_SECTIONS:
        yield from section.duration_paths(data.get(section.name))
    if isinstance(data.get("escalation"), list):
        for i, rule in enumerate(data["escalation"]):
            if isinstance(rule, dict) and "clear_after" in rule:
                yield ("escalation", i, "clear_after")


def _get(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


# -- durations ------------------------------------------------------------------------------


@_needs()
def _positive_durations(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    for path in duration_paths(data):
        value = _get(data, path)
        try:
            if parse_duration(value) <= 0:
                yield source.problem(f"{where(path)} must be longer than zero", path)
        except UnusableDuration as error:
            yield source.problem(f"{where(path)}: {error}", path)
        except ValueError:
            continue  # the schema already said it is not a duration



# -- escalation ------------------------------------------------------------------------------


@_needs("escalation")
def _escalation_rules_can_fire(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    intents: dict[str, Any] = data["intents"] if isinstance(data.get("intents"), dict) else {}
    ordering: dict[str, Any] = data["ordering"] if isinstance(data.get("ordering"), dict) else {}
    for i, rule in enumerate(data["escalation"]):
        at = ("escalation", i)
        if rule.get("after_terminal") and "illegal_transition" not in rule["alerts"]:
            yield source.problem(f"escalation rule '{rule['id']}': after_terminal applies only to illegal_transition alerts", at + ("after_terminal",))
        if "clear_after" in rule and rule["to"] == "halted":
            yield source.problem(f"escalation rule '{rule['id']}': a halt is cleared only by a person; clear_after goes with `to: reducing`", at + ("clear_after",))
        if "submit_without_intent" in rule["alerts"] and intents.get("required_before_submit") is False:
            yield source.problem(f"escalation rule '{rule['id']}' reacts to submit_without_intent, but intents.required_before_submit is false, so that alert never fires", at + ("alerts",))
        if "sequence_gap" in rule["alerts"] and "ordering" in data and not ordering.get("check_sequence_gaps", False):
            yield source.problem(f"escalation rule '{rule['id']}' reacts to sequence_gap, but ordering.check_sequence_gaps is off, so that alert never fires", at + ("alerts",))


# -- promotion -------------------------------------------------------------------------------


@_needs("promotion")
def _gates_are_satisfiable(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    for i, gate in enumerate(data["promotion"]["gates"]):
        at = ("promotion", "gates", i)
        low, high = gate.get("at_least"), gate.get("at_most")
        if low is None and high is None:
            yield source.problem(f"gate '{gate['id']}' needs a bound: at_least or at_most", at)
        if low is not None and high is not None and low > high:
            yield source.problem(f"gate '{gate['id']}': at_least ({low}) is above at_most ({high}); no run could pass", at + ("at_least",))
        if gate["metric"] in ("recall", "missed_faults") and gate.get("dataset", "any") != "labeled":
            yield source.problem(
                f"gate '{gate['id']}': {gate['metric']} is measured against injected faults, which only labeled data has; add `dataset: labeled`",
                at + (("dataset",) if "dataset" in gate else ()),
            )
        if gate.get("per_fault_kind") and gate["metric"] != "recall":
            yield source.problem(f"gate '{gate['id']}': per_fault_kind applies only to the recall metric", at + ("per_fault_kind",))
        for bound_name, bound in (("at_least", low), ("at_most", high)):
            if bound is None:
                continue
            if gate["metric"] in RATE_METRICS and not 0 <= bound <= 1:
                yield source.problem(f"gate '{gate['id']}': {gate['metric']} is a fraction from 0 to 1, so {bound_name} {bound} is out of range", at + (bound_name,))
            if gate["metric"] not in RATE_METRICS and (bound < 0 or bound != int(bound)):
                yield source.problem(f"gate '{gate['id']}': {gate['metric']} is a count, so {bound_name} must be a whole number of 0 or more", at + (bound_name,))


# -- rule ids across the policy --------------------------------------------------------------


@_needs()
def _rule_ids_are_unique(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    seen: dict[str, Path] = {}
    for path in _rule_id_paths(data):
        rule_id = _get(data, path)
        if not isinstance(rule_id, str):
            continue
        if rule_id in seen:
            line = source.locate(seen[rule_id]).line
            yield source.problem(f"rule id '{rule_id}' is already used (line {line}); decisions name rules by id, so each must be unique", path)
        seen.setdefault(rule_id, path)


def _rule_id_paths(data: dict[str, Any]) -> Iterator[Path]:
    lists = (
        (("ordering", "transitions"), data.get("ordering", {}).get("transitions") if isinstance(data.get("ordering"), dict) else None),
        (("escalation",), data.get("escalation")),
        (("promotion", "gates"), data.get("promotion", {}).get("gates") if isinstance(data.get("promotion"), dict) else None),
    )
    for prefix, items in lists:
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict) and "id" in item:
                    yield prefix + (i, "id")

