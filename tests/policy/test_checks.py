"""Checks beyond the schema: a sound state machine and limits that agree."""

import pytest

from safeguards import PolicyError, compile_text

from .conftest import dump


def messages(data) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        compile_text(dump(data), "p.yaml")
    return [p.message for p in caught.value.problems]


def test_reference_policy_is_clean(policy_data):
    compile_text(dump(policy_data), "p.yaml")


def rule(policy_data, rule_id):
    return next(r for r in policy_data["ordering"]["transitions"] if r["id"] == rule_id)


def test_transition_to_undeclared_state(policy_data):
    rule(policy_data, "ack")["to"] = ["new", "rejected", "nwe"]
    [message] = messages(policy_data)
    assert message.startswith("transition 'ack' to 'nwe' is not a declared state; did you mean 'new'?")


def test_transition_from_undeclared_state(policy_data):
    rule(policy_data, "ack")["from"] = "pending"
    assert any("transition 'ack' from 'pending' is not a declared state" in m for m in messages(policy_data))


def test_terminal_state_with_outgoing_transition(policy_data):
    policy_data["ordering"]["transitions"].append({"id": "refill", "from": "filled", "to": "new"})
    assert any("terminal state 'filled' has an outgoing transition (rule 'refill')" in m for m in messages(policy_data))


def test_unreachable_state(policy_data):
    for rule in policy_data["ordering"]["transitions"]:
        targets = [rule["to"]] if isinstance(rule["to"], str) else rule["to"]
        rule["to"] = [t for t in targets if t != "expired"] or ["canceled"]
    found = messages(policy_data)
    assert any("state 'expired' cannot be reached from the initial state 'pending_new'" in m for m in found)


def test_initial_state_terminal(policy_data):
    policy_data["ordering"]["initial"] = "filled"
    assert any("is terminal: no order could ever move" in m for m in messages(policy_data))


def test_state_missing_from_progression(policy_data):
    policy_data["ordering"]["progression"][2].remove("replaced")
    assert any("state 'replaced' is missing from ordering.progression" in m for m in messages(policy_data))


def test_state_twice_in_progression(policy_data):
    policy_data["ordering"]["progression"][1].append("replaced")
    assert any("state 'replaced' is in progression stages" in m for m in messages(policy_data))


def test_broker_event_without_state(policy_data):
    del policy_data["ordering"]["events"]["expired"]
    assert any("broker event type 'expired' announces no state" in m for m in messages(policy_data))


def test_transition_claimed_by_two_rules(policy_data):
    policy_data["ordering"]["transitions"].append({"id": "ack_again", "from": "pending_new", "to": "new"})
    assert any("transition pending_new -> new is already allowed by rule 'ack'" in m for m in messages(policy_data))


def test_late_fills_after_non_terminal(policy_data):
    policy_data["ordering"]["late_fills"]["after"] = ["canceled", "new"]
    assert any("late_fills lists 'new', which is not terminal" in m for m in messages(policy_data))


@pytest.mark.parametrize(("section", "key"), [("idempotency", "window"), ("hedging", "quote_max_age"), ("clock", "max_skew")])
def test_zero_duration(policy_data, section, key):
    policy_data[section][key] = "0s"
    assert f"{section}.{key} must be longer than zero" in messages(policy_data)


def test_zero_timeout(policy_data):
    policy_data["clock"]["timeouts"]["ack"] = "0ms"
    assert "clock.timeouts.ack must be longer than zero" in messages(policy_data)


def test_hedge_attempts_below_depth(policy_data):
    policy_data["hedging"]["max_attempts_per_group"] = 1
    assert any("max_attempts_per_group (1) is below hedging.max_depth (2)" in m for m in messages(policy_data))


def test_offset_window_not_longer_than_skew(policy_data):
    policy_data["clock"]["offset_window"] = "500ms"
    assert any("offset_window (500ms) is not longer than clock.max_skew" in m for m in messages(policy_data))


def test_key_field_also_ignored(policy_data):
    policy_data["idempotency"]["ignore_fields"].append("event_id")
    assert any("'event_id' is both part of idempotency.key and ignored" in m for m in messages(policy_data))


def test_clear_after_on_halt(policy_data):
    policy_data["escalation"][0]["clear_after"] = "5m"
    assert any("a halt is cleared only by a person" in m for m in messages(policy_data))


def test_after_terminal_needs_illegal_transition(policy_data):
    policy_data["escalation"][0]["after_terminal"] = True
    assert any("after_terminal applies only to illegal_transition" in m for m in messages(policy_data))


def test_escalation_on_alert_that_cannot_fire(policy_data):
    policy_data["intents"]["required_before_submit"] = False
    policy_data["escalation"][0]["alerts"].append("submit_without_intent")
    assert any("submit_without_intent, but intents.required_before_submit is false" in m for m in messages(policy_data))


def test_duplicate_rule_ids_across_sections(policy_data):
    policy_data["escalation"][0]["id"] = "ack"
    assert any("rule id 'ack' is already used" in m for m in messages(policy_data))


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ({"id": "g", "metric": "recall", "dataset": "labeled"}, "needs a bound"),
        ({"id": "g", "metric": "recall", "dataset": "labeled", "at_least": 1.5}, "fraction from 0 to 1"),
        ({"id": "g", "metric": "recall", "at_least": 0.9}, "add `dataset: labeled`"),
        ({"id": "g", "metric": "alerts", "at_most": 0.5}, "is a count"),
        ({"id": "g", "metric": "alerts", "at_least": 5, "at_most": 1}, "no run could pass"),
        ({"id": "g", "metric": "alerts", "at_most": 1, "per_fault_kind": True}, "only to the recall metric"),
    ],
)
def test_unsatisfiable_gates(policy_data, gate, expected):
    policy_data["promotion"]["gates"].append(gate)
    assert any(expected in m for m in messages(policy_data))


def test_semantic_checks_still_run_on_sound_sections(policy_data):
    policy_data["hedging"]["max_depth"] = "deep"  # schema error in hedging
    policy_data["clock"]["max_skew"] = "0s"  # semantic error in clock
    found = messages(policy_data)
    assert any("hedging.max_depth must be a whole number" in m for m in found)
    assert "clock.max_skew must be longer than zero" in found
