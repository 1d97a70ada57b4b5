"""Printed Python dicts read as data: plain values only, within bounds, never run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from safeguards.adapters.literal import MAX_CHARS, MAX_NESTING, UnreadableLine, as_json, nesting_depth, read_dict


def test_a_printed_dict_and_its_json_read_alike() -> None:
    printed = "{'event': 'login', 'ok': True, 'none': None, 'n': 5, 'px': '1.5', 'legs': [{'a': 1}]}"
    as_json_line = '{"event": "login", "ok": true, "none": null, "n": 5, "px": "1.5", "legs": [{"a": 1}]}'
    assert read_dict(printed) == read_dict(as_json_line) == {
        "event": "login", "ok": True, "none": None, "n": 5, "px": "1.5", "legs": [{"a": 1}]}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{'a': 1, 'b': [1, 2", "'[' was never closed at column 15 (the line may be cut short)"),
        ("[{'a': 1}]", "does not start with '{'"),
        ("{'a': 1} {'b': 2}", "not a whole printed dict: invalid syntax"),
        ("{'a': len('x')}", "not a printed dict of plain values (it holds a name, a call or an operator)"),
        ("{'a': 10 ** 100}", "not a printed dict of plain values"),
        ("{'a': " + "-" * 5000 + "1}", "too complex to read"),
        ("{'a': 1" + "9" * 5000 + "}", "not a whole printed dict: Exceeds the limit (4300 digits) for integer string conversion"),
    ],
)
def test_what_is_not_a_dict_of_plain_values_is_refused_with_why(line: str, reason: str) -> None:
    with pytest.raises(UnreadableLine, match=re.escape(reason)):
        read_dict(line)


def test_code_in_a_line_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    line = f"{{'a': __import__('pathlib').Path({str(marker)!r}).touch()}}"
    with pytest.raises(UnreadableLine, match="plain values"):
        read_dict(line)
    assert not marker.exists()


def test_a_line_too_long_or_nested_too_deep_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(UnreadableLine, match="above the 1,048,576 read"):
        read_dict("{'a': '" + "x" * MAX_CHARS + "'}")
    deep = "{'a': " + "[" * MAX_NESTING + "]" * MAX_NESTING + "}"
    with pytest.raises(UnreadableLine, match=f"nested {MAX_NESTING + 1} deep, above the {MAX_NESTING} read"):
        read_dict(deep)
    assert read_dict("{'a': " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1) + "}")["a"] is not None


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert nesting_depth("{'a': '[[[[', \"b\": \"{{{\\\"[[\", 'c': [1]}") == 2
    assert read_dict("{'a': '" + "[" * (MAX_NESTING * 2) + "'}") == {"a": "[" * (MAX_NESTING * 2)}


def test_values_json_cannot_carry_are_refused() -> None:
    for value in ({"a": {1, 2}}, {"a": b"x"}, {"a": 1j}, {"a": float("inf")}):
        with pytest.raises(UnreadableLine, match="JSON cannot carry"):
            as_json(value)
    assert as_json({"a": [1, "é"]}) == '{"a": [1, "é"]}'
