"""The journal's generated per-shape encoders write the same JSON values as `json`, whatever the values' types."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguards.journal.encoding import prefix

KEYS = ["source", "type", "event_id", "qty", "last_px", "poss_dup", "note", "a-b.c", 'odd"key', "{brace}", "é"]
VALUES = st.one_of(
    st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(), st.text(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def text_of(record):
    return prefix(record) + "}"


@given(st.lists(st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1), min_size=1, max_size=6))
def test_any_records_round_trip_even_when_a_shape_changes_value_types(records):
    for record in records:  # same keys with other value types hit an encoder generated for the first types seen
        assert json.loads(text_of(record)) == record


@pytest.mark.parametrize("first, then", [
    ({"qty": 1}, {"qty": True}),  # a bool is an int to Python, never to JSON
    ({"px": 1.5}, {"px": 2}),  # an int must stay an int, not take a remembered float's text
    ({"id": "a"}, {"id": 7}),  # a string slot holding a number
    ({"flag": False}, {"flag": 1.25}),
])
def test_a_value_of_another_type_in_a_known_shape_keeps_its_type(first, then):
    text_of(first)
    decoded = json.loads(text_of(then))
    assert decoded == then and type(next(iter(decoded.values()))) is type(next(iter(then.values())))


def test_negative_zero_keeps_its_sign():
    text_of({"px": 0.0})
    assert text_of({"px": -0.0}) == '{"px":-0.0}'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_refused_like_json_with_allow_nan_false(bad):
    text_of({"px": 1.0})
    with pytest.raises(ValueError, match="not JSON compliant"):
        text_of({"px": bad})


def test_an_empty_object_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        prefix({})
