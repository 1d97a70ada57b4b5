"""The core writes a value into a reason as Python's ``repr`` would, for every character Python has.

Reasons quote the offending value (``field 'recv_ts': not an RFC 3339 UTC
timestamp ...: '<value>'``); the core renders that quote itself, with a table of
the code points ``str.isprintable`` refuses (``crates/safeguards-core/tools/unprintable.py``).
A Python with a newer Unicode database fails here until the table is made again.
"""

from __future__ import annotations

import sys

from safeguards import Engine
from tests.eventkit import reference_policy

_SURROGATES = range(0xD800, 0xE000)  # not text: a str holding one cannot cross into the core as UTF-8


def test_every_character_is_quoted_as_python_quotes_it() -> None:
    engine = Engine(reference_policy())
    characters = [chr(code) for code in range(0x80, sys.maxunicode + 1) if code not in _SURROGATES]
    differ = []
    for start in range(0, len(characters), 2048):
        value = "".join(characters[start:start + 2048])
        reason = engine.process({"source": "market", "type": "quote", "symbol": "X", "recv_ts": value})["reason"]
        if not reason.endswith(repr(value)):
            got = reason[reason.index(": '") + 2:] if ": '" in reason else reason
            differ += [f"U+{ord(c):04X}" for c, a, b in zip(value, repr(value)[1:], got[1:]) if a != b][:1]
    assert not differ, f"quoted otherwise than repr() from {differ[0]}: run crates/safeguards-core/tools/unprintable.py"
