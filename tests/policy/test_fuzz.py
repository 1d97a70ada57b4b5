"""Mutated policies never produce a traceback: only a PolicyError whose every problem has a place."""

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeguards import PolicyError, compile_text, policy_schema

from .conftest import reference_data, reference_text, walk

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


ALL_PATHS = [path for path, _ in walk(reference_data()) if path]


def _apply(data: dict, path: tuple, action: str, junk: Any, key: str) -> None:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = junk
    elif action == "add_key" and isinstance(parent, dict):
        parent[key] = junk


def _assert_located(text: str) -> None:
    lines = text.count("\n") + 1
    try:
        compile_text(text, "fuzz.yaml")
    except PolicyError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.location is not None and problem.location.path == "fuzz.yaml"
            assert 1 <= problem.location.line <= lines + 1
            assert problem.message
            problem.render()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mutations=st.lists(
        st.tuples(st.sampled_from(ALL_PATHS), st.sampled_from(["delete", "replace", "add_key"]), JUNK, st.text(min_size=1, max_size=8)),
        min_size=1, max_size=4,
    )
)
def test_structural_mutations_give_located_errors(mutations):
    data = copy.deepcopy(reference_data())
    for path, action, junk, key in mutations:
        try:
            _apply(data, path, action, junk, key)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    _assert_located(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 20), st.text(max_size=6)), min_size=1, max_size=3))
def test_text_mutations_give_located_errors(edits):
    text = reference_text()
    for position, cut, insert in edits:
        position %= len(text) + 1
        text = text[:position] + insert + text[position + cut:]
    _assert_located(text)


@settings(max_examples=50, deadline=None)
@given(section=st.sampled_from(policy_schema()["required"]))
def test_deleted_section_is_named(section):
    data = reference_data()
    del data[section]
    try:
        compile_text(yaml.safe_dump(data), "fuzz.yaml")
    except PolicyError as error:
        assert any(f"required key '{section}'" in p.message for p in error.problems)
    else:
        raise AssertionError(f"deleting {section} was accepted")
