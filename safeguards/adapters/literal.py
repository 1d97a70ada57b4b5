"""Printed Python dicts, one a line: read safely, as data, into JSON text.

Recorders written in Python often log a venue's messages with ``print(message)``:
single quotes, ``True``/``False``/``None``, not JSON. Such a line is read with
:func:`ast.literal_eval` (never ``eval``: a log line is not code we run), after two
bounds that keep a hostile or broken line from costing more than a line should:
its length (:data:`MAX_CHARS`) and how deeply its brackets nest
(:data:`MAX_NESTING`). A line that is JSON already is read as JSON.
"""

from __future__ import annotations

import ast
import json

from ..errors import EventError

#: Longest line read, in characters: a venue's push of a few dozen orders is tens of KB;
#: literal_eval's syntax tree of a line takes tens of times the line's size in memory.
MAX_CHARS = 1 << 20

#: Deepest nesting of brackets read: venue messages nest a handful of levels (an OKX push,
#: five); Python's parser gives up at a depth of 200 with a less useful reason.
MAX_NESTING = 32

_OPENING = "{[("
_CLOSING = "}])"


class UnreadableLine(EventError):
    """A line that is not one whole printed dict (or JSON object); the message says why (a rejected row's reason)."""


def read_dict(line: str) -> dict:
    """The line's dict, or raise :class:`UnreadableLine` with the reason."""
    text = line.strip()
    if len(text) > MAX_CHARS:
        raise UnreadableLine(f"line of {len(text):,} characters, above the {MAX_CHARS:,} read")
    if not text.startswith("{"):
        raise UnreadableLine("not a printed dict or JSON object (it does not start with '{')")
    depth = nesting_depth(text) if sum(map(text.count, _OPENING)) > MAX_NESTING else 0  # few brackets: none too deep
    if depth > MAX_NESTING:
        raise UnreadableLine(f"brackets nested {depth} deep, above the {MAX_NESTING} read")
    try:
        value = json.loads(text)
    except ValueError:
        value = _literal(text)
    if not isinstance(value, dict):
        raise UnreadableLine(f"not a dict but a {type(value).__name__}")
    return value


def as_json(value: object) -> str:
    """``value`` as JSON text, or raise :class:`UnreadableLine`: a set, bytes, a complex number, inf or nan."""
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise UnreadableLine(f"holds a value JSON cannot carry ({error})") from None


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except SyntaxError as error:
        what = (error.msg or "invalid syntax").split(":")[0][:100]  # Python's longer reasons go on past a colon
        where = f" at column {error.offset}" if error.offset else ""
        cut = " (the line may be cut short)" if "never closed" in what else ""
        raise UnreadableLine(f"not a whole printed dict: {what}{where}{cut}") from None
    except ValueError:  # literal_eval's "malformed node", naming an object by its address
        raise UnreadableLine("not a printed dict of plain values (it holds a name, a call or an operator)") from None
    except TypeError as error:  # a list or dict as a key
        raise UnreadableLine(f"not a printed dict of plain values ({str(error)[:80]})") from None
    except (MemoryError, RecursionError):
        raise UnreadableLine("too complex to read as a printed dict") from None


def nesting_depth(text: str) -> int:
    """How deeply brackets nest in ``text``, not counting those inside quoted strings."""
    depth = deepest = 0
    quote: str | None = None
    escaped = False
    for char in text:
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSING:
            depth -= 1
    return deepest
