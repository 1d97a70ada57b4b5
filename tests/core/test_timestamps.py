"""The core reads and writes timestamps exactly as :mod:`safeguards.events` does (one vocabulary, two languages)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from safeguards import _core
from safeguards.errors import EventError
from safeguards.events import format_timestamp, parse_timestamp

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)


@given(INT64)
def test_formatting_matches_python(nanos: int) -> None:
    assert _core.format_timestamp(nanos) == format_timestamp(nanos)


@given(INT64)
def test_reading_the_canonical_text_matches_python(nanos: int) -> None:
    text = format_timestamp(nanos)
    assert _core.parse_rfc3339(text) == parse_timestamp(text) == nanos


@pytest.mark.parametrize("text", [
    "2026-02-21T14:30:00Z", "2026-02-21t14:30:00.1z", "2026-02-21 15:30:00.123456+01:00", "2026-02-21T14:30:00Z\n",
    "2026-02-21T14:30:00+99:99", "9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00Z",
])
def test_valid_spellings_agree(text: str) -> None:
    assert _core.parse_rfc3339(text) == parse_timestamp(text)


@pytest.mark.parametrize("text", [
    "2026-02-21 14:30:00", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "0000-01-01T00:00:00Z",
    "2026-02-01T24:00:00Z", "2026-02-01T23:00:60Z", "2026-02-01T00:00:00.Z", "2026-02-01T00:00:00.1234567890Z",
    "2026-02-01T00:00:00+1:00", "", "x" * 30,
])
def test_invalid_spellings_are_refused_by_both(text: str) -> None:
    with pytest.raises(EventError):
        parse_timestamp(text)
    with pytest.raises(ValueError):
        _core.parse_rfc3339(text)
