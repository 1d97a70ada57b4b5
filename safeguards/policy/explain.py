"""The policy in plain English, for a reviewer who does not read YAML."""

from __future__ import annotations

from typing import Any

from .compiled import CompiledPolicy
from .durations import format_duration

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


def _words(items: list[str], last: str = "and") -> str:
    items = list(items)
    if not items:
        return "none"
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def _d(nanos: int | None) -> str:
    return "none" if nanos is None else format_duration(nanos)


def explain(policy: CompiledPolicy) -> str:
    """A reviewer's reading of the whole policy, section by section."""
    t = policy.tables
    lines: list[str] = []
    meta = t["metadata"]
    lines += [f"Policy {meta['name']}, version {meta['version']}, owned by {meta['owner']}.", f"Identity: {policy.identity}"]
    if meta["description"]:
        lines.append(meta["description"])
    sev = t["severities"]
    lines += ["", *_ordering(t["ordering"], sev), "", *_idempotency(t["idempotency"], sev), "", *_intents(t["intents"], t["clock"], sev),
              "", *_hedging(t["hedging"]), "", *_clock(t["clock"]), "", *_severities(sev), "", *_escalation(t["escalation"]),
              "", *_promotion(t["promotion"])]
    return "\n".join(lines) + "\n"


def _ordering(o: dict[str, Any], sev: dict[str, str]) -> list[str]:
    stages = sorted(set(o["stage"].values()))
    by_stage = [[s for s, i in sorted(o["stage"].items()) if i == stage] for stage in stages]
    v = o["on_violation"]
    lines = [
        "ORDER STATES (ordering)",
        f"  An order starts in {o['initial']} and ends in {_words(o['terminal'], 'or')}.",
        "  Allowed changes:",
    ]
    for rule in o["rules"]:
        why = f"  ({rule['description']})" if rule["description"] else ""
        lines.append(f"    - {rule['id']}: from {_words(rule['from'], 'or')} to {_words(rule['to'], 'or')}{why}")
    lines.append(
        "  Orders move through these stages: " + " -> ".join("/".join(stage) for stage in by_stage) + ". "
        "An event announcing an earlier stage than the order has reached is a late delivery: it is ignored as stale, not an error."
    )
    events = ", ".join(f"{e} means {s}" if s != "revert" else f"{e} returns the order to its state before the pending request" for e, s in sorted(o["event_state"].items()))
    lines.append(f"  Broker events: {events}.")
    effect = "not applied" if v["action"] == "reject" else "applied anyway"
    lines.append(f"  Any other change is {effect} and raises a {v['severity']} alert ({v['severity_after_terminal']} when the order had already ended).")
    if o["late_fills"]["after"]:
        lines.append(
            f"  A fill arriving after {_words(o['late_fills']['after'], 'or')} is real exposure: its quantity is kept "
            f"and a {o['late_fills']['severity']} alert is raised."
        )
    lines.append(f"  Filled quantity never goes backwards; a fill beyond the order quantity raises a {sev['overfill']} overfill alert.")
    lines.append(
        f"  Gaps in broker sequence numbers raise a {sev['sequence_gap']} alert." if o["check_sequence_gaps"] else "  Gaps in broker sequence numbers are not checked."
    )
    return lines


def _idempotency(i: dict[str, Any], sev: dict[str, str]) -> list[str]:
    return [
        "DUPLICATE EVENTS (idempotency)",
        f"  Two events with the same {_words(i['key'])} within {_d(i['window_ns'])} of broker time are one event: the repeat is ignored as a duplicate.",
        f"  At most {i['max_keys']:,} keys are remembered; the oldest are forgotten first.",
        f"  A repeat that differs in anything but {_words(i['ignore_fields'], 'or')} raises a {sev['conflicting_duplicate']} conflicting-duplicate alert.",
    ]


def _intents(i: dict[str, Any], clock: dict[str, Any], sev: dict[str, str]) -> list[str]:
    r = i["recovery"]
    unknown = {"alert": "are reported", "adopt": "are reported and adopted into our state", "cancel": "are reported and their cancel is requested"}
    unacked = {"mark_failed": "are marked failed (never resubmitted silently)", "alert": "are reported"}
    mismatch = {"adopt_broker": "the broker's figure is adopted and an alert raised", "alert": "an alert is raised"}
    return [
        "ORDER INTENTS (intents)",
        "  Every order must have its intent recorded before it is submitted; a submit without one is blocked."
        if i["required_before_submit"] else "  Submitting without a recorded intent is allowed (not recommended).",
        f"  A broker event for an order we never recorded raises a {sev['orphan_order']} orphan-order alert.",
        f"  An intent not acknowledged within {_d(clock['timeouts_ns']['ack'])} of broker time raises an ack-timeout alert.",
        f"  On start-up, orders the broker has that we never recorded {unknown[r['unknown_broker_orders']]}; "
        f"intents the broker never saw {unacked[r['unacknowledged_intents']]}; where quantities disagree, {mismatch[r['quantity_mismatch']]}.",
    ]


def _hedging(h: dict[str, Any]) -> list[str]:
    return [
        "EMERGENCY HEDGES (hedging)",
        f"  A hedge may hedge an order, and a hedge may hedge a hedge, down to depth {h['max_depth']}; deeper ones are blocked.",
        f"  A hedge may take at most {h['liquidity_fraction']:.0%} of the size displayed on the side it takes, "
        f"from a quote no older than {_d(h['quote_max_age_ns'])}; otherwise it is blocked.",
        f"  A group may send at most {h['max_attempts_per_group']} hedges and stay unhedged at most {_d(h['max_unhedged_ns'])}.",
    ]


def _clock(c: dict[str, Any]) -> list[str]:
    t = c["timeouts_ns"]
    fill = f"fill {_d(t['fill'])}" if t["fill"] is not None else "no fill timeout"
    replace = f"replace {_d(t['replace'])}" if t.get("replace") is not None else "no replace timeout"
    return [
        "CLOCK (clock)",
        "  Time is the broker's time. The normal offset between our clock and the broker's is the smallest "
        f"seen over the last {_d(c['offset_window_ns'])}; an event departing from it by more than {_d(c['max_skew_ns'])} raises a clock-skew alert,",
        f"  and a broker time more than {_d(c['future_tolerance_ns'])} ahead of now raises a clock-skew alert too.",
        f"  Timeouts (broker time): ack {_d(t['ack'])}, cancel {_d(t['cancel'])}, {replace}, {fill}.",
    ]


def _severities(sev: dict[str, str]) -> list[str]:
    lines = ["ALERT SEVERITIES (severities)"]
    for level in ("critical", "warning", "info"):
        kinds = sorted(_ALERT_WORDS.get(kind, kind) for kind, s in sev.items() if s == level)
        if kinds:
            lines.append(f"  {level.capitalize()}: {_words(kinds)}.")
    return lines


def _escalation(rules: list[dict[str, Any]]) -> list[str]:
    lines = ["ESCALATION (escalation)",
             "  Reducing lets only hedges and cancels through; halted lets only cancels through and is cleared only by a person."]
    for rule in rules:
        alerts = _words([_ALERT_WORDS.get(a, a) for a in rule["alerts"]], "or")
        if rule["after_terminal"]:
            alerts += " after the order had ended"
        if rule["min_severity"]:
            alerts += f" (severity {rule['min_severity']} or above)"
        scope = "the group it concerns (everything when it has no group)" if rule["scope"] == "group" else "everything"
        clear = f", back to active after {_d(rule['clear_after_ns'])} without a new trigger" if rule["clear_after_ns"] else ""
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
