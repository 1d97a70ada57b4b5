"""The sidecar's line parser fuzzed: any bytes get one answer, the same with or without a journal, and replay alike.

Lines are arbitrary bytes, JSON values of every kind, and events with a field
broken or added; a batch goes through the plain sidecar's decision and through
a journal (issue 15: no traceback where an ``invalid`` belongs). Bounded
examples: CI replays a fixed set (see tests/conftest.py).
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeguards import Engine
from safeguards.journal.journaled import JournaledEngine
from safeguards.sidecar import Plain, parse_line
from tests.eventkit import reference_policy
from tests.journal.test_journaled import life_cycle

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                          max_size=3), max_leaves=8)
_EVENT = st.builds(lambda event, field, value: json.dumps({**event, field: value}, default=str),
                   st.sampled_from(life_cycle()), st.sampled_from(["seq", "qty", "cum_qty", "recv_ts", "type", "x"]),
                   _JSON)
_LINE = (st.binary(max_size=60).map(lambda raw: raw.replace(b"\n", b""))
         | _JSON.map(lambda value: json.dumps(value).encode())
         | _EVENT.map(str.encode))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_LINE.filter(bytes.strip), min_size=1, max_size=12))
def test_any_lines_get_one_answer_each_with_or_without_a_journal(tmp_path_factory, lines):
    plain = Engine(reference_policy())
    expected = Plain(plain).submit([parse_line(raw) for raw in lines])
    folder = tmp_path_factory.mktemp("fuzz") / "journal"
    with JournaledEngine(reference_policy(), folder) as journaled:
        got = journaled.submit([parse_line(raw) for raw in lines])
    assert got == expected
    with JournaledEngine(reference_policy(), folder) as recovered:  # replayed from the journal: the same answers owed
        assert recovered.recovery.unanswered == [answer for answer in expected if answer[0] or answer[1]]
