"""Checks the schema cannot express: the state machine must make sense, and limits must not contradict each other.

Each check reads one well-formed section (or two, for cross-section checks)
and reports problems at the exact key or list item that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..errors import Problem
from ..events import BROKER_TYPES
from .durations import UnusableDuration, parse_duration
from .schema import suggest, where
from .source import Path, SourceMap

REVERT = "revert"
RATE_METRICS = {"recall", "false_alert_rate"}

Check = Callable[[dict[str, Any], SourceMap], Iterator[Problem]]
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
    for sections, check in _CHECKS:
        if all(name in sound for name in sections):
            problems.extend(check(sound, source))
    return problems


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def duration_paths(data: dict[str, Any]) -> Iterator[Path]:
    """Every place a duration stands in a policy."""
    for section, key in (("idempotency", "window"), ("hedging", "quote_max_age"), ("hedging", "max_unhedged"),
                         ("clock", "max_skew"), ("clock", "offset_window"), ("clock", "future_tolerance")):
        if isinstance(data.get(section), dict) and key in data[section]:
            yield (section, key)
    timeouts = data.get("clock", {}).get("timeouts") if isinstance(data.get("clock"), dict) else None
    if isinstance(timeouts, dict):
        yield from (("clock", "timeouts", name) for name in timeouts)
    if isinstance(data.get("escalation"), list):
        for i, rule in enumerate(data["escalation"]):
            if isinstance(rule, dict) and "clear_after" in rule:
                yield ("escalation", i, "clear_after")


def _get(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


# -- ordering -------------------------------------------------------------------------------


@_needs("ordering")
def _states_are_declared(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    ordering = data["ordering"]
    states = set(ordering["states"])
    declared = ", ".join(ordering["states"])

    def unknown(name: str, at: Path, what: str) -> Iterator[Problem]:
        if name not in states:
            yield source.problem(f"{what} '{name}' is not a declared state{suggest(name, sorted(states))} (declared: {declared})", at)

    if REVERT in states:
        i = ordering["states"].index(REVERT)
        yield source.problem(f"'{REVERT}' is a reserved word in ordering.events; name this state differently", ("ordering", "states", i))
    yield from unknown(ordering["initial"], ("ordering", "initial"), "initial state")
    for i, name in enumerate(ordering["terminal"]):
        yield from unknown(name, ("ordering", "terminal", i), "terminal state")
    if ordering["initial"] in ordering["terminal"]:
        yield source.problem(f"the initial state '{ordering['initial']}' is terminal: no order could ever move", ("ordering", "initial"))
    for stage_index, stage in enumerate(ordering["progression"]):
        for i, name in enumerate(stage):
            yield from unknown(name, ("ordering", "progression", stage_index, i), "progression state")
    for event_type, target in ordering["events"].items():
        if target != REVERT:
            yield from unknown(target, ("ordering", "events", event_type), f"event '{event_type}' announces state")
    for i, rule in enumerate(ordering["transitions"]):
        for end in ("from", "to"):
            names = as_list(rule[end])
            for j, name in enumerate(names):
                at = ("ordering", "transitions", i, end) + ((j,) if isinstance(rule[end], list) else ())
                yield from unknown(name, at, f"transition '{rule['id']}' {end}")
    for i, name in enumerate(ordering.get("late_fills", {}).get("after", [])):
        at = ("ordering", "late_fills", "after", i)
        yield from unknown(name, at, "late_fills state")
        if name in states and name not in ordering["terminal"]:
            yield source.problem(f"late_fills lists '{name}', which is not terminal; a fill there is an ordinary transition", at)


@_needs("ordering")
def _progression_covers_each_state_once(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    ordering = data["ordering"]
    seen: dict[str, int] = {}
    for stage_index, stage in enumerate(ordering["progression"]):
        for i, name in enumerate(stage):
            if name in seen:
                yield source.problem(f"state '{name}' is in progression stages {seen[name] + 1} and {stage_index + 1}; put it in one", ("ordering", "progression", stage_index, i))
            seen.setdefault(name, stage_index)
    for i, name in enumerate(ordering["states"]):
        if name not in seen and name != REVERT:
            yield source.problem(f"state '{name}' is missing from ordering.progression; add it to the stage it belongs to", ("ordering", "states", i))


@_needs("ordering")
def _every_broker_event_has_a_state(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    events = data["ordering"]["events"]
    for event_type in BROKER_TYPES:
        if event_type not in events:
            yield source.problem(f"broker event type '{event_type}' announces no state; add `{event_type}: <state>` under ordering.events", ("ordering", "events"))


@_needs("ordering")
def _transitions_make_a_sound_machine(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    ordering = data["ordering"]
    states, terminal = set(ordering["states"]), set(ordering["terminal"])
    owner: dict[tuple[str, str], str] = {}
    reachable = {ordering["initial"]}
    edges: dict[str, set[str]] = {}
    for i, rule in enumerate(ordering["transitions"]):
        for j, source_state in enumerate(as_list(rule["from"])):
            if source_state in terminal:
                at = ("ordering", "transitions", i, "from") + ((j,) if isinstance(rule["from"], list) else ())
                yield source.problem(
                    f"terminal state '{source_state}' has an outgoing transition (rule '{rule['id']}'); "
                    "remove it, or take the state out of ordering.terminal",
                    at,
                )
            for target in as_list(rule["to"]):
                pair = (source_state, target)
                if pair in owner:
                    yield source.problem(
                        f"transition {source_state} -> {target} is already allowed by rule '{owner[pair]}'; "
                        "each transition belongs to one rule",
                        ("ordering", "transitions", i),
                    )
                owner.setdefault(pair, rule["id"])
                edges.setdefault(source_state, set()).add(target)
    frontier = [ordering["initial"]]
    while frontier:
        for target in edges.get(frontier.pop(), ()):
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    for i, name in enumerate(ordering["states"]):
        if name in states and name not in reachable:
            yield source.problem(
                f"state '{name}' cannot be reached from the initial state '{ordering['initial']}'; "
                "add a transition into it or remove it",
                ("ordering", "states", i),
            )


@_needs("ordering")
def _revert_only_from_pending_requests(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    events = data["ordering"]["events"]
    for event_type, target in events.items():
        if target == REVERT and event_type != "cancel_rejected":
            yield source.problem(f"only cancel_rejected can revert an order; '{event_type}' must announce a state", ("ordering", "events", event_type))


# -- durations, idempotency, hedging ---------------------------------------------------------


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



@_needs("idempotency")
def _key_fields_are_compared(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    section = data["idempotency"]
    for i, name in enumerate(section.get("ignore_fields", [])):
        if name in section["key"]:
            yield source.problem(f"'{name}' is both part of idempotency.key and ignored; a key field is always compared", ("idempotency", "ignore_fields", i))


@_needs("hedging")
def _hedge_limits_agree(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    hedging = data["hedging"]
    if hedging["max_attempts_per_group"] < hedging["max_depth"]:
        yield source.problem(
            f"hedging.max_attempts_per_group ({hedging['max_attempts_per_group']}) is below hedging.max_depth "
            f"({hedging['max_depth']}): a chain that deep needs that many attempts; raise the attempts or lower the depth",
            ("hedging", "max_attempts_per_group"),
        )


@_needs("clock")
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

