"""Schema violations become one located, human problem each."""

import pytest

from safeguards import PolicyError, compile_text
from safeguards.policy import policy_schema, schema_text

from .conftest import dump


def problems_for(data) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        compile_text(dump(data), "p.yaml")
    for problem in caught.value.problems:
        assert problem.location is not None and problem.location.path == "p.yaml"
    return [p.render(snippet=False) for p in caught.value.problems]


def test_schema_is_draft_2020_12_and_closed_everywhere():
    schema = policy_schema()
    assert schema["$schema"].endswith("2020-12/schema")

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, node.get("description")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert schema_text().startswith("{")


def test_misspelled_key_gets_did_you_mean(policy_data):
    policy_data["hedging"]["max_dept"] = policy_data["hedging"].pop("max_depth")
    found = problems_for(policy_data)
    assert any("unknown key 'max_dept' in hedging; did you mean 'max_depth'?" in p for p in found)
    assert not any("missing the required key" in p for p in found)  # the did-you-mean says it


def test_misspelled_enum_value_gets_did_you_mean(policy_data):
    policy_data["escalation"][0]["to"] = "halt"
    [problem] = problems_for(policy_data)
    assert "did you mean 'halted'?" in problem


def test_wrong_type_says_what_was_expected(policy_data):
    policy_data["hedging"]["max_depth"] = "two"
    [problem] = problems_for(policy_data)
    assert "hedging.max_depth must be a whole number, not the text 'two'" in problem


def test_quoted_number_hint(policy_data):
    policy_data["metadata"]["version"] = "2"
    [problem] = problems_for(policy_data)
    assert "remove the quotes" in problem


def test_bad_duration(policy_data):
    policy_data["clock"]["max_skew"] = "half a second"
    [problem] = problems_for(policy_data)
    assert "clock.max_skew" in problem and "is not a duration" in problem


def test_negative_duration_is_not_a_duration(policy_data):
    policy_data["clock"]["max_skew"] = "-500ms"
    [problem] = problems_for(policy_data)
    assert "is not a duration" in problem


def test_a_bare_number_for_a_duration_asks_for_its_unit(policy_data):
    policy_data["hedging"]["quote_max_age"] = 2000
    [problem] = problems_for(policy_data)
    assert "hedging.quote_max_age is a span of time and needs its unit: write 2000ms (that is 2s)" in problem
    assert "must be text" not in problem


def test_a_duration_beyond_64_bit_nanoseconds_is_refused(policy_data):
    policy_data["idempotency"]["window"] = "99999999999999999999999h"
    [problem] = problems_for(policy_data)
    assert "idempotency.window" in problem and "longer than the engine can hold" in problem


def test_unknown_event_type_key(policy_data):
    policy_data["ordering"]["events"]["fil"] = "filled"
    [problem] = problems_for(policy_data)
    assert "'fil' is not a broker event type; did you mean 'fill'?" in problem


def test_format_version(policy_data):
    policy_data["format"] = 2
    [problem] = problems_for(policy_data)
    assert "this release reads policy format 1" in problem


def test_every_problem_at_once(policy_data):
    policy_data["hedging"]["max_depth"] = 0
    policy_data["clock"]["max_skew"] = "soon"
    policy_data["idempotency"]["max_keys"] = "1e6"
    policy_data["extra_section"] = {}
    found = problems_for(policy_data)
    assert len(found) == 4
    assert any("YAML reads 1e6 as text" in p for p in found)


def test_top_level_not_a_mapping():
    with pytest.raises(PolicyError) as caught:
        compile_text("- just\n- a list\n", "p.yaml")
    assert "the policy must be a mapping" in caught.value.problems[0].message
