"""The ordering guard's section: order states, the progression, allowed transitions, late fills, sequence gaps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...errors import Problem
from ...events import BROKER_TYPES
from ..schema import suggest
from ..source import Path, SourceMap
from ..wording import words
from .section import AlertDefault, Section

#: What ``ordering.events`` says for an event that returns the order to its state before its pending request.
REVERT = "revert"


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def compile_section(ordering: dict[str, Any]) -> dict[str, Any]:
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
    return {
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
    }


def explain(tables: dict[str, Any]) -> list[str]:
    o, sev = tables["ordering"], tables["severities"]
    stages = sorted(set(o["stage"].values()))
    by_stage = [[s for s, i in sorted(o["stage"].items()) if i == stage] for stage in stages]
    v = o["on_violation"]
    lines = [
        "ORDER STATES (ordering)",
        f"  An order starts in {o['initial']} and ends in {words(o['terminal'], 'or')}.",
        "  Allowed changes:",
    ]
    for rule in o["rules"]:
        why = f"  ({rule['description']})" if rule["description"] else ""
        lines.append(f"    - {rule['id']}: from {words(rule['from'], 'or')} to {words(rule['to'], 'or')}{why}")
    lines.append(
        "  Orders move through these stages: " + " -> ".join("/".join(stage) for stage in by_stage) + ". "
        "An event announcing an earlier stage than the order has reached is a late delivery: it is ignored as stale, not an error."
    )
    events = ", ".join(f"{e} means {s}" if s != REVERT else f"{e} returns the order to its state before the pending request" for e, s in sorted(o["event_state"].items()))
    lines.append(f"  Broker events: {events}.")
    effect = "not applied" if v["action"] == "reject" else "applied anyway"
    lines.append(f"  Any other change is {effect} and raises a {v['severity']} alert ({v['severity_after_terminal']} when the order had already ended).")
    if o["late_fills"]["after"]:
        lines.append(
            f"  A fill arriving after {words(o['late_fills']['after'], 'or')} is real exposure: its quantity is kept "
            f"and a {o['late_fills']['severity']} alert is raised."
        )
    lines.append(f"  Filled quantity never goes backwards; a fill beyond the order quantity raises a {sev['overfill']} overfill alert.")
    lines.append(
        f"  Gaps in broker sequence numbers raise a {sev['sequence_gap']} alert." if o["check_sequence_gaps"] else "  Gaps in broker sequence numbers are not checked."
    )
    return lines


# -- checks the schema cannot express ------------------------------------------------------


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


def _every_broker_event_has_a_state(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    events = data["ordering"]["events"]
    for event_type in BROKER_TYPES:
        if event_type not in events:
            yield source.problem(f"broker event type '{event_type}' announces no state; add `{event_type}: <state>` under ordering.events", ("ordering", "events"))


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


def _revert_only_from_pending_requests(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    events = data["ordering"]["events"]
    for event_type, target in events.items():
        if target == REVERT and event_type != "cancel_rejected":
            yield source.problem(f"only cancel_rejected can revert an order; '{event_type}' must announce a state", ("ordering", "events", event_type))


#: The alert kinds this guard raises, with their default severities.
ALERTS = (
    AlertDefault("overfill", "critical"),
    AlertDefault("sequence_gap", "warning"),
    AlertDefault("fill_conflict", "critical",
                 "a trade report whose quantity the order's cum_qty does not account for "
                 "(cum_qty restarted at a replace, say); its quantity is kept"),
)

SECTION = Section(
    "ordering", compile_section, explain,
    checks=(_states_are_declared, _progression_covers_each_state_once, _every_broker_event_has_a_state,
            _transitions_make_a_sound_machine, _revert_only_from_pending_requests), alerts=ALERTS)
