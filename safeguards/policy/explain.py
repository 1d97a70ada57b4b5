"""The policy in plain English, for a reviewer who does not read YAML."""

from __future__ import annotations

from typing import Any

from .compiled import CompiledPolicy
from .sections import GUARD_SECTIONS
from .wording import duration, words

_ALERT_WORDS = {
    "illegal_transition": "an illegal order-state change",
    "overfill": "an overfill",
    "conflicting_duplicate": "a conflicting duplicate",
    "orphan_order": "an order we never recorded (orphan)",
    "submit_without_intent": "a submit without intent",
    "ack_timeout": "an acknowledgement timeout",
    "cancel_timeout": "a cancel timeout",
    "fill_timeout": "a fill timeout",
    "replace_timeout": "a replace timeout",
    "fill_conflict": "a fill the order's quantities do not account for",
    "hedge_depth_exceeded": "a hedge deeper than allowed",
    "insufficient_liquidity": "a hedge larger than the market shows",
    "stale_quote": "a hedge priced on a stale quote",
    "hedge_attempts_exceeded": "too many hedge attempts",
    "unhedged_timeout": "a group unhedged too long",
    "clock_skew": "clock skew",
    "sequence_gap": "a gap in broker sequence numbers",
    "lost_intent": "an intent the broker never saw",
    "state_mismatch": "a quantity that disagrees with the broker's",
    "halted": "a halt",
    "order_evicted_unfinished": "an order evicted unfinished (the book full)",
}


def explain(policy: CompiledPolicy) -> str:
    """A reviewer's reading of the whole policy, section by section."""
    t = policy.tables
    lines: list[str] = []
    meta = t["metadata"]
    lines += [f"Policy {meta['name']}, version {meta['version']}, owned by {meta['owner']}.", f"Identity: {policy.identity}"]
    if meta["description"]:
        lines.append(meta["description"])
    for section in GUARD_SECTIONS:
        lines += ["", *section.explain(t)]
    lines += ["", *_severities(t["severities"]), "", *_escalation(t["escalation"]), "", *_promotion(t["promotion"])]
    return "\n".join(lines) + "\n"


def _severities(sev: dict[str, str]) -> list[str]:
    lines = ["ALERT SEVERITIES (severities)"]
    for level in ("critical", "warning", "info"):
        kinds = sorted(_ALERT_WORDS.get(kind, kind) for kind, s in sev.items() if s == level)
        if kinds:
            lines.append(f"  {level.capitalize()}: {words(kinds)}.")
    return lines


def _escalation(rules: list[dict[str, Any]]) -> list[str]:
    lines = ["ESCALATION (escalation)",
             "  Reducing lets only hedges and cancels through; halted lets only cancels through and is cleared only by a person."]
    for rule in rules:
        alerts = words([_ALERT_WORDS.get(a, a) for a in rule["alerts"]], "or")
        if rule["after_terminal"]:
            alerts += " after the order had ended"
        if rule["min_severity"]:
            alerts += f" (severity {rule['min_severity']} or above)"
        scope = "the group it concerns (everything when it has no group)" if rule["scope"] == "group" else "everything"
        clear = f", back to active after {duration(rule['clear_after_ns'])} without a new trigger" if rule["clear_after_ns"] else ""
        lines.append(f"  - {rule['id']}: {alerts} moves {scope} to {rule['to']}{clear}.")
    if not rules:
        lines.append("  No alert changes the trading state.")
    return lines


def _promotion(p: dict[str, Any]) -> list[str]:
    lines = ["PROMOTION GATES (promotion)", "  Before this policy may reach production, a backtest must show:"]
    for gate in p["gates"]:
        bounds = []
        if gate["at_least"] is not None:
            bounds.append(f"at least {gate['at_least']:g}")
        if gate["at_most"] is not None:
            bounds.append(f"at most {gate['at_most']:g}")
        metric = gate["metric"].replace("_", " ") + (" for every fault kind" if gate["per_fault_kind"] else "")
        data = {"labeled": " on labeled data", "clean": " on clean baseline data", "any": ""}[gate["dataset"]]
        lines.append(f"  - {gate['id']}: {metric} {' and '.join(bounds)}{data}.")
    return lines
