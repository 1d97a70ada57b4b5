import pytest

from safeguards import PolicyError
from safeguards.policy.source import load_yaml


def test_positions_are_recorded_for_keys_and_values():
    data, source = load_yaml("a:\n  b: 5s\n  c: [x, y]\n", "f.yaml")
    assert data == {"a": {"b": "5s", "c": ["x", "y"]}}
    assert str(source.locate(("a", "b"))) == "f.yaml:2:6"
    assert str(source.locate(("a", "b"), key=True)) == "f.yaml:2:3"
    assert str(source.locate(("a", "c", 1))) == "f.yaml:3:10"


def test_missing_path_falls_back_to_nearest_ancestor():
    _, source = load_yaml("a:\n  b: 1\n", "f.yaml")
    assert str(source.locate(("a", "b", "missing", 3))) == "f.yaml:2:6"


def test_duplicate_keys_are_reported_and_first_value_kept():
    data, source = load_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert data == {"a": 1, "b": 2}
    [problem] = source.problems
    assert str(problem.location) == "f.yaml:3:1"
    assert "duplicate key 'a' (first at line 1)" in problem.message


def test_python_tags_are_refused_without_constructing_anything():
    data, source = load_yaml("a: !!python/object/apply:os.system ['echo pwned']\n", "f.yaml")
    assert data == {"a": None}
    assert "not allowed" in source.problems[0].message
    assert ("a",) in source.unreadable


def test_syntax_error_has_location_and_snippet():
    with pytest.raises(PolicyError) as caught:
        load_yaml("a:\n  b: [1, 2\nc: 3\n", "f.yaml")
    [problem] = caught.value.problems
    assert str(problem.location) == "f.yaml:2:6"
    assert "never closed" in problem.message
    assert "^" in problem.render()


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("format: 1\nmetadata:\n\tname: x\n", "3:1", "use spaces|replace the tab with spaces"),
        ("format: 1\nmetadata:\n  name x\n  owner: y\n", "3:3", "'name x' has no colon"),
        ("format: 1\nmetadata\n  name: x\n", "2:1", "'metadata' needs a colon after it: write 'metadata:'"),
        ("format: 1\nmetadata:\n  name: x\n   owner: y\n", "4:4", "indented 1 space more than the line above"),
        ("format: 1\nmetadata:\n  name: x\n owner: y\n", "4:2", "does not line up"),
        ("format: 1\nmetadata:\n  name: \"x\n  owner: y\n", "3:9", 'this " is never closed'),
        ("format: 1\nstates: [a, b\nclock:\n  a: 1\n", "2:9", "this [ is never closed: end the list with ]"),
        ("format: 1\nstates: {a: 1\nclock:\n  a: 1\n", "2:9", "this { is never closed: end the mapping with }"),
        ("format: 1\nmetadata:\n  name: a: b\n", "3:10", "put the value in quotes"),
    ],
    ids=["tab", "missing colon", "missing colon on a section", "indented too far", "indented too little",
         "unclosed quote", "unclosed bracket", "unclosed brace", "colon in a value"],
)
def test_common_yaml_mistakes_are_told_in_plain_words_on_their_own_line(text, where, words):
    with pytest.raises(PolicyError) as caught:
        load_yaml(text, "f.yaml")
    [problem] = caught.value.problems
    assert str(problem.location) == f"f.yaml:{where}"
    assert any(option in problem.message for option in words.split("|")), problem.message
    assert "token" not in problem.message and "<block" not in problem.message


@pytest.mark.parametrize("text", ["", "   \n# only a comment\n"])
def test_empty_file_is_one_clear_problem(text):
    with pytest.raises(PolicyError) as caught:
        load_yaml(text, "f.yaml")
    assert "empty" in caught.value.problems[0].message


def test_second_document_is_refused():
    with pytest.raises(PolicyError) as caught:
        load_yaml("a: 1\n---\nb: 2\n", "f.yaml")
    assert "one YAML document" in caught.value.problems[0].message


def test_merge_keys_are_refused():
    _, source = load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "f.yaml")
    assert any("merge" in p.message for p in source.problems)


@pytest.mark.parametrize("text, message, line", [
    # billion laughs placed before a policy: a few lines that would expand to 9^9 values
    ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
     + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join(["*" + chr(97 + i)] * 9) + "]\n" for i in range(8))
     + "format: 1\n", "expands to more than 20,000 values", 1),
    ("a: &a [*a]\n", "refers to a value that contains it", 1),
    ("format: 1\nmetadata: &m {name: x, version: 1, owner: me, self: *m}\n", "refers to a value that contains it", 2),
    ("x: " + "[" * 2000 + "]" * 2000 + "\n", "nested more than 64 levels deep", 1),
    ('format: 1\nmetadata: {owner: "\\ud800"}\n', "unpaired surrogate", 2),
    ('format: 1\n"\\udc00": 1\n', "unpaired surrogate", 2),
])
def test_hostile_yaml_is_a_located_problem_not_a_hang_or_a_crash(text, message, line):
    """A policy file is input from a person: bombs, cycles, deep nesting and broken text are refused where they are."""
    try:
        _, source = load_yaml(text, "p.yaml")
        problems = source.problems
    except PolicyError as error:
        problems = error.problems
    assert any(message in p.message and p.location.line == line for p in problems), [p.render() for p in problems]
