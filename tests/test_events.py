"""The canonical event: timestamps, the validator's reasons, and properties over random input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguards.errors import EventError
from safeguards.events import (
    FIELDS, REQUIRED, TYPES_BY_SOURCE, format_timestamp, parse_timestamp, validate_event,
)

T0 = "2026-02-21T14:30:00.123456Z"
T0_NS = 1_771_684_200_123_456_000


def fill(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "source": "broker", "type": "fill", "event_id": "e1", "order_id": "o1", "cum_qty": 2, "leaves_qty": 0,
        "last_qty": 2, "last_px": 1.05, "broker_ts": T0, "recv_ts": T0_NS,
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not ...}


# --- timestamps ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        (T0, T0_NS),
        ("2026-02-21T14:30:00Z", 1_771_684_200_000_000_000),
        ("2026-02-21T14:30:00.123456789Z", 1_771_684_200_123_456_789),
        ("2026-02-21T16:30:00.5+02:00", 1_771_684_200_500_000_000),
        ("2026-02-21 09:30:00-05:00", 1_771_684_200_000_000_000),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_parse_timestamp_reads_rfc3339_to_utc_nanoseconds(text: str, nanos: int) -> None:
    assert parse_timestamp(text) == nanos


def test_parse_timestamp_passes_integer_nanoseconds_through() -> None:
    assert parse_timestamp(T0_NS) == T0_NS


@pytest.mark.parametrize("bad", ["2026-02-21T14:30:00", "2026-02-30T00:00:00Z", "yesterday", "", True, 1.5, None])
def test_parse_timestamp_refuses_what_is_not_a_utc_time(bad: object) -> None:
    with pytest.raises(EventError):
        parse_timestamp(bad)


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_format_and_parse_timestamp_round_trip(nanos: int) -> None:
    assert parse_timestamp(format_timestamp(nanos)) == nanos


# --- validation -----------------------------------------------------------------------

def test_a_complete_fill_is_valid_and_unknown_fields_are_allowed() -> None:
    assert validate_event(fill()) is None
    assert validate_event(fill(venue="CBOE", nested={"a": [1]})) is None


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (fill(source=...), "missing field 'source'"),
        (fill(type=...), "missing field 'type'"),
        (fill(source="exchange"), "field 'source': unknown source 'exchange'"),
        (fill(type="quote"), "field 'type': unknown type 'quote' for source 'broker'"),
        (fill(event_id=...), "missing field 'event_id' (required for broker fill)"),
        (fill(last_px=...), "missing field 'last_px' (required for broker fill)"),
        (fill(cum_qty=-1), "field 'cum_qty': negative quantity -1"),
        (fill(last_px=math.nan), "field 'last_px': nan is not a finite number"),
        (fill(last_px=math.inf), "field 'last_px': inf is not a finite number"),
        (fill(cum_qty=True), "field 'cum_qty': expected a number, got bool"),
        (fill(cum_qty="2"), "field 'cum_qty': expected a number, got str"),
        (fill(order_id=7), "field 'order_id': expected a string, got int"),
        (fill(seq=1.0), "field 'seq': expected an integer, got float"),
        (fill(poss_dup="Y"), "field 'poss_dup': expected true or false, got str"),
        (fill(side="long"), "field 'side': 'long' is not one of buy, sell"),
        (fill(recv_ts="2026-02-21 14:30"), "field 'recv_ts': not an RFC 3339 UTC timestamp"),
        (fill(broker_ts=1.5), "field 'broker_ts': expected an RFC 3339 timestamp with its zone (e.g. 2026-02-21T14:30:00.123Z) or integer nanoseconds, got float"),
        ([1, 2], "an event must be a JSON object, got list"),
    ],
)
def test_invalid_events_get_a_reason_naming_the_field(event: object, reason: str) -> None:
    got = validate_event(event)
    assert got is not None and got.startswith(reason), got


def test_prices_may_be_negative_but_quantities_may_not() -> None:
    assert validate_event(fill(last_px=-0.35)) is None
    assert validate_event(fill(leaves_qty=-0.5)) == "field 'leaves_qty': negative quantity -0.5"


def test_hedge_intents_need_a_parent() -> None:
    intent = {"source": "local", "type": "intent", "event_id": "i1", "order_id": "h1", "group_id": "g1",
              "role": "hedge", "symbol": "SPY", "side": "buy", "qty": 1, "recv_ts": T0}
    assert validate_event(intent) == "missing field 'parent_id' (required for hedge intents)"
    assert validate_event({**intent, "parent_id": "o1"}) is None
    assert validate_event({**intent, "role": "leg"}) is None


def test_required_fields_follow_design_section_4() -> None:
    assert REQUIRED[("market", "quote")] == (
        "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty", "broker_ts", "recv_ts")
    assert "order_id" not in REQUIRED[("market", "quote")]
    assert REQUIRED[("broker", "cancel_rejected")] == ("event_id", "order_id", "broker_ts", "recv_ts")
    assert set(REQUIRED[("local", "intent")]) == {"order_id", "group_id", "role", "symbol", "side", "qty", "recv_ts"}


# --- properties --------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from([*FIELDS, "venue", "x"]) | st.text(max_size=8)


@settings(max_examples=400)
@given(st.dictionaries(_keys, _json_values, max_size=12) | _json_values)
def test_random_junk_never_raises(event: object) -> None:
    reason = validate_event(event)
    assert reason is None or isinstance(reason, str)


_ts = st.integers(min_value=0, max_value=4_102_444_800 * 10**9) | st.integers(
    min_value=0, max_value=4_102_444_800 * 10**9).map(format_timestamp)
_qty = st.integers(min_value=0, max_value=10**6) | st.floats(min_value=0, max_value=1e6)
_px = st.floats(min_value=-1e4, max_value=1e4)
_text = st.text(min_size=1, max_size=10)
_VALUES = {
    "symbol": _text, "event_id": _text, "order_id": _text, "group_id": _text, "parent_id": _text,
    "role": st.sampled_from(["leg", "hedge", "stop"]), "side": st.sampled_from(["buy", "sell"]),
    "broker_ts": _ts, "recv_ts": _ts, "limit_px": _px, "last_px": _px, "bid_px": _px, "ask_px": _px,
}


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, object]:
    source, type_ = draw(st.sampled_from(sorted(REQUIRED)))
    event: dict[str, object] = {"source": source, "type": type_}
    for name in REQUIRED[(source, type_)]:
        event[name] = draw(_VALUES.get(name, _qty))
    if event.get("role") == "hedge":
        event["parent_id"] = draw(_text)
    event.update(draw(st.dictionaries(st.sampled_from(["venue", "note"]), _text, max_size=2)))
    if draw(st.booleans()):
        event["poss_dup"] = draw(st.booleans())
        event["broker_seq"] = draw(st.integers(min_value=1, max_value=10**9))
    return event


@given(valid_events())
def test_valid_events_pass(event: dict[str, object]) -> None:
    assert validate_event(event) is None


def test_every_source_has_types() -> None:
    assert set(TYPES_BY_SOURCE) == {"local", "broker", "market"}
    assert all(TYPES_BY_SOURCE.values())


def test_values_the_store_cannot_hold_are_invalid() -> None:
    assert validate_event(fill(recv_ts="9999-12-31T23:59:59Z")).startswith(
        "field 'recv_ts': outside the range of nanosecond timestamps")
    assert validate_event(fill(recv_ts=1 << 63)) == f"field 'recv_ts': {1 << 63} is outside the 64-bit integer range"
    assert validate_event(fill(broker_seq=-(1 << 64))).startswith("field 'broker_seq':")
