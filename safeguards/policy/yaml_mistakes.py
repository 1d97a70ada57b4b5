"""PyYAML's parser errors said in a risk manager's words, on the line the mistake is really on.

The parser reports where it gave up, in its grammar's terms ("mapping values are
not allowed here", "expected <block end>"), often a line after the mistake: a
key missing its colon is only noticed at the next key. Each common mistake is
recognised from the error and the text around it, and told as what to type.
"""

from __future__ import annotations

import yaml

from ..errors import Location

#: (message, line, column), 1-based, or None when the error is not one of the common mistakes.
Explained = tuple[str, int, int]


def explain(error: yaml.MarkedYAMLError, lines: list[str]) -> Explained | None:
    """The plain-words reading of a parser error, or None to fall back to the parser's own words."""
    problem = error.problem or ""
    context = error.context or ""
    at = error.problem_mark
    opened = error.context_mark
    if at is None:
        return None
    line, column = at.line + 1, at.column + 1
    if "'\\t'" in problem:
        return ("a tab is not allowed here: YAML indents with spaces only (two per level); "
                "replace the tab with spaces", line, column)
    if "quoted scalar" in context and opened is not None:
        quote = _char(lines, opened.line, opened.column) or "quote"
        return (f"this {quote} is never closed: end the text with a matching {quote} on the same line",
                opened.line + 1, opened.column + 1)
    if ("flow sequence" in context or "flow mapping" in context) and opened is not None:
        closing, what, instead = (("]", "list", "one item per line with '- '") if "sequence" in context
                                  else ("}", "mapping", "one 'key: value' per line"))
        return (f"this {_char(lines, opened.line, opened.column) or 'bracket'} is never closed: "
                f"end the {what} with {closing} on the same line, or write {instead}",
                opened.line + 1, opened.column + 1)
    if "could not find expected ':'" in problem and opened is not None:
        key = lines[opened.line].strip() if opened.line < len(lines) else ""
        return (f"'{key}' needs a colon after it: write '{key}:'", opened.line + 1, opened.column + 1)
    if "mapping values are not allowed here" in problem:
        return _misplaced_colon(lines, at.line, column)
    if "expected <block end>" in problem:
        return ("this line's indentation does not line up with the lines above it: the keys of one section "
                "start in the same column (indent with spaces, two per level)", line, _indent(lines, at.line) + 1)
    return None


def _misplaced_colon(lines: list[str], index: int, column: int) -> Explained:
    """A colon the parser found inside a value: the line above lacks its colon, is indented wrongly, or the value needs quotes."""
    above = _previous_content_line(lines, index)
    if above is not None:
        text = lines[above].strip()
        if not _is_key_line(text) and not text.startswith("-"):
            return (f"'{text}' has no colon: write it as 'key: value'", above + 1, _indent(lines, above) + 1)
        if _indent(lines, index) > _indent(lines, above) and _is_key_line(text) and not text.endswith(":"):
            extra = _indent(lines, index) - _indent(lines, above)
            return (f"this line is indented {extra} space{'s' if extra != 1 else ''} more than the line above; "
                    "keys of one section start in the same column", index + 1, _indent(lines, index) + 1)
    return ("this value holds ': ', which YAML reads as a new key: put the value in quotes",
            index + 1, column)


def _previous_content_line(lines: list[str], index: int) -> int | None:
    for earlier in range(min(index, len(lines)) - 1, -1, -1):
        stripped = lines[earlier].strip()
        if stripped and not stripped.startswith("#"):
            return earlier
    return None


def _is_key_line(text: str) -> bool:
    return text.endswith(":") or ": " in text


def _indent(lines: list[str], index: int) -> int:
    if index >= len(lines):
        return 0
    line = lines[index]
    return len(line) - len(line.lstrip(" "))


def _char(lines: list[str], index: int, column: int) -> str | None:
    if index < len(lines) and column < len(lines[index]):
        return lines[index][column]
    return None


def location(path: str, explained: Explained) -> Location:
    return Location(path, explained[1], explained[2])
