"""Read YAML safely and remember where every key and value came from.

PyYAML's loaders lose positions and silently keep the last of two equal keys.
We compose the node tree instead (no object construction, so no arbitrary
Python objects), build plain data ourselves, and record a location for every
path, so any later check can point at `file:line:col`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from ..errors import Location, PolicyError, Problem
from ..jsonlines import has_lone_surrogate
from . import yaml_mistakes

Path = tuple[str | int, ...]

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
#: A policy is a few hundred values a few levels deep: far beyond these, a file is a mistake or an attack
#: (aliases repeating aliases expand a few lines into billions of values; deep nesting exhausts the stack).
MAX_DEPTH = 64
MAX_VALUES = 20_000
_ALLOWED_TAGS = {
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


@dataclass
class SourceMap:
    """Where each path of the loaded document stands in its file."""

    path: str
    lines: list[str]
    values: dict[Path, Location] = field(default_factory=dict)
    keys: dict[Path, Location] = field(default_factory=dict)
    # Paths whose value was unreadable and already reported; later checks stay quiet about them.
    unreadable: set[Path] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    def problem(self, message: str, at: Path, *, key: bool = False) -> Problem:
        """A problem placed at `at`, or at its nearest recorded ancestor."""
        location = self.locate(at, key=key)
        return Problem(message, location, self.line_text(location))

    def locate(self, at: Path, *, key: bool = False) -> Location:
        if key and at in self.keys:
            return self.keys[at]
        probe = tuple(at)
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Location(self.path, 1, 1))

    def line_text(self, location: Location) -> str | None:
        if 1 <= location.line <= len(self.lines):
            return self.lines[location.line - 1]
        return None


def _location(path: str, node: yaml.Node) -> Location:
    start, end = node.start_mark, node.end_mark
    end_col = end.column + 1 if end.line == start.line and end.column > start.column else None
    return Location(path, start.line + 1, start.column + 1, end_col)


class _Builder:
    """Turns a composed node tree into plain dicts, lists and scalars."""

    def __init__(self, source: SourceMap):
        self.source = source
        self.problems: list[Problem] = []
        self._scalars = SafeConstructor()
        self._built = 0
        self._open: set[int] = set()  # the nodes being built, outermost first: an alias to one is a cycle

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._built += 1
        if self._built > MAX_VALUES:
            raise PolicyError([self._problem(
                f"the policy expands to more than {MAX_VALUES:,} values (anchors and aliases repeating each "
                "other); write the values out, or use fewer aliases", node)])
        if id(node) in self._open:
            raise PolicyError([self._problem("this alias refers to a value that contains it (a value cannot "
                                             "contain itself); write the value out", node)])
        self.source.values[path] = _location(self.source.path, node)
        if isinstance(node, yaml.CollectionNode):
            self._open.add(id(node))
            try:
                return self._build(node, path)
            finally:
                self._open.discard(id(node))
        return self._build(node, path)

    def _problem(self, message: str, node: yaml.Node) -> Problem:
        location = _location(self.source.path, node)
        return Problem(message, location, self.source.line_text(location))

    def _build(self, node: yaml.Node, path: Path) -> Any:
        if node.tag == _TIMESTAMP_TAG and isinstance(node, yaml.ScalarNode):
            return node.value  # a policy holds no dates: `2026-01-01` means the text
        if node.tag not in _ALLOWED_TAGS:
            self._report(f"the tag '{node.tag}' is not allowed in a policy; write a plain value", self.source.values[path])
            self.source.unreadable.add(path)
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Location] = {}
        for key_node, value_node in node.value:
            key_location = _location(self.source.path, key_node)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                self._report("only plain keys are allowed here (no merge keys, lists or mappings as keys)", key_location)
                continue
            key = key_node.value
            if has_lone_surrogate(key):
                self._report(_SURROGATE, key_location)
                continue
            if key in first_seen:
                earlier = first_seen[key]
                self._report(
                    f"duplicate key '{key}' (first at line {earlier.line}); "
                    "a risk file must say each thing once: remove one of them",
                    key_location,
                )
                continue
            first_seen[key] = key_location
            self.source.keys[path + (key,)] = key_location
            result[key] = self.build(value_node, path + (key,))
        return result

    def _scalar(self, node: yaml.Node, path: Path) -> Any:
        try:
            value = self._scalars.construct_object(node)
        except (ConstructorError, ValueError) as error:
            self._report(f"cannot read this value: {error}", self.source.values[path])
            self.source.unreadable.add(path)
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self._report(f"'{node.value}' is not a usable number here; write a finite number", self.source.values[path])
            self.source.unreadable.add(path)
            return None
        if isinstance(value, str) and has_lone_surrogate(value):
            self._report(_SURROGATE, self.source.values[path])
            self.source.unreadable.add(path)
            return None
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            self._report(f"'{node.value}' reads as a {type(value).__name__}; quote it to keep it as text", self.source.values[path])
            self.source.unreadable.add(path)
            return None
        return value

    def _report(self, message: str, location: Location) -> None:
        self.problems.append(Problem(message, location, self.source.line_text(location)))


_SURROGATE = ("this text holds an unpaired surrogate (an escape such as \\ud800 that is half of a character); "
              "write the character itself")


def _too_deep(text: str, path: str, source: SourceMap) -> Problem | None:
    """Nesting beyond MAX_DEPTH, found from the parser's events (composing would recurse that deep first)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                location = Location(path, mark.line + 1, mark.column + 1)
                return Problem(f"nested more than {MAX_DEPTH} levels deep; a policy needs a few", location,
                               source.line_text(location))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def load_yaml(text: str, path: str = "<policy>") -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data plus its source map.

    A file that cannot be parsed at all raises PolicyError. Problems that leave
    the rest readable (duplicate keys: the first is kept; disallowed tags) are
    collected in `source.problems` so they are reported with every later one.
    """
    source = SourceMap(path, text.splitlines())
    try:
        deep = _too_deep(text, path, source)
        if deep is not None:
            raise PolicyError([deep])
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        explained = yaml_mistakes.explain(error, source.lines)
        if explained is not None:
            at = yaml_mistakes.location(path, explained)
            raise PolicyError([Problem(explained[0], at, source.line_text(at))]) from None
        mark = error.problem_mark or error.context_mark
        location = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path, 1, 1)
        what = error.problem or error.context or "invalid YAML"
        raise PolicyError([Problem(f"invalid YAML: {what}", location, source.line_text(location))]) from None
    except yaml.YAMLError as error:
        raise PolicyError([Problem(f"invalid YAML: {error}", Location(path, 1, 1))]) from None
    if not documents or documents[0] is None:
        raise PolicyError([Problem("the file is empty: a policy starts with `format: 1` and `metadata:`", Location(path, 1, 1))])
    if len(documents) > 1:
        second = documents[1]
        location = _location(path, second) if second is not None else Location(path, 1, 1)
        raise PolicyError([Problem("a policy file holds one YAML document; remove the extra `---` section", location, source.line_text(location))])
    builder = _Builder(source)
    data = builder.build(documents[0], ())
    source.problems.extend(builder.problems)
    return data, source
