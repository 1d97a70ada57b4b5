"""The engine's fast event check agrees with validate_event and parse_timestamp, whatever it is given."""

from __future__ import annotations

import math
import re
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from safeguards.errors import EventError
from safeguards.events import FIELDS, TIMESTAMP_PATTERN, parse_timestamp, validate_event
from safeguards.screening import check_event
from tests.test_events import _json_values, _keys, valid_events


def _expected(event: object) -> tuple:
    reason = validate_event(event)
    if reason is not None:
        return reason, None, None
    assert isinstance(event, dict)
    broker_ts = event.get("broker_ts")
    return None, None if broker_ts is None else parse_timestamp(broker_ts), parse_timestamp(event["recv_ts"])


def _agrees(event: object) -> None:
    expected = _expected(event)
    for _ in range(2):  # the second time through, the shape is cached
        *got, fields = check_event(event)
        assert tuple(got) == expected
        if fields is not None:
            assert isinstance(event, dict)
            assert fields == tuple(name for name in FIELDS if event.get(name) is not None)


@settings(max_examples=400)
@given(st.dictionaries(_keys, _json_values, max_size=12) | _json_values)
def test_junk_gets_the_same_reason(event: object) -> None:
    _agrees(event)


_BAD_VALUES = st.sampled_from([
    None, math.nan, math.inf, -math.inf, -1, -0.5, 1e308, 10**400, True, "text", "sell", "hedge", [1], {"a": 1},
    "2026-02-21T14:30:00Z", "2026-02-30T00:00:00Z", "2026-02-21T24:00:00Z", "2026-02-21T14:30:00",
    2**63 - 1, 2**63, -(2**63), -(2**63) - 1, "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z",
    "1600-01-01T00:00:00Z", "12345",
])


@settings(max_examples=600)
@given(valid_events(), st.sampled_from([*FIELDS, "venue"]), _BAD_VALUES, st.booleans())
def test_valid_events_and_their_mutants_get_the_same_answer(event: dict, field: str, value: object, mutate: bool) -> None:
    _agrees(event)
    assert check_event(event)[3] is not None, "a valid event was left to the slow full check"
    if mutate:
        _agrees({**event, field: value})
        if event.get("role") == "hedge":
            _agrees({k: v for k, v in event.items() if k != "parent_id"})


# --- timestamps: the fast parser against the straightforward one it replaced -------------------

_EPOCH = datetime(1970, 1, 1)
_PATTERN = re.compile(TIMESTAMP_PATTERN)


def _reference_parse(value: str) -> int | None:
    match = _PATTERN.match(value)
    if match is None:
        return None
    day, clock, fraction, offset = match.groups()
    try:
        naive = datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        return None
    delta = naive - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return seconds * 1_000_000_000 + (int(fraction.ljust(9, "0")) if fraction else 0)


_digits = st.integers(min_value=0, max_value=99).map(lambda n: f"{n:02d}")
_stamps = st.builds(
    lambda year, month, day, hour, minute, second, fraction, sep, offset: (
        f"{year:04d}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{offset}"
    ),
    st.integers(min_value=1, max_value=9999), _digits, _digits, _digits, _digits, _digits,
    st.sampled_from(["", "."]) | st.integers(min_value=0, max_value=10**9 - 1).map(lambda n: f".{n}"),
    st.sampled_from(["T", "t", " "]), st.sampled_from(["Z", "z", "+01:00", "-05:30", "+00:00", ""]),
)


@settings(max_examples=1000)
@given(_stamps | st.text(max_size=32))
def test_fast_timestamps_match_the_reference(value: str) -> None:
    for _ in range(2):  # the second parse of a day goes through the day cache
        expected = _reference_parse(value)
        try:
            got = parse_timestamp(value)
        except EventError:
            got = None
        assert got == expected, value


class _Name(str):
    """A str subclass posing as a field name."""


def test_odd_keys_and_values_are_left_to_the_full_check() -> None:
    base = {"source": "local", "type": "submit", "order_id": "o1", "recv_ts": 1}
    _agrees(base)
    _agrees({**base, _Name("qty"): "ten"})
    _agrees({**base, "qty": _Name("ten")})
    _agrees({**base, 1: 2, (1, 2): None, "seq": None})
    _agrees({k: v for k, v in base.items() if k != "recv_ts"})
