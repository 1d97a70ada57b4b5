import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguards.policy.durations import UnusableDuration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "nanos"),
    [("250ms", 250_000_000), ("5s", 5_000_000_000), ("1m30s", 90_000_000_000), ("24h", 86_400_000_000_000),
     ("1.5s", 1_500_000_000), ("100us", 100_000), ("100µs", 100_000), ("7ns", 7), ("1d", 86_400_000_000_000), ("2h 5m", 7_500_000_000_000)],
)
def test_parse(text, nanos):
    assert parse_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "5", "5 sec", "-5s", "1.5ns", "s", "5s!", 5])
def test_parse_refuses_with_reason(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["99999999999999999999999h", "1.5ns", "300000d"])
def test_well_formed_but_unusable_durations_say_so(text):
    with pytest.raises(UnusableDuration):
        parse_duration(text)


@pytest.mark.parametrize(("nanos", "text"), [(86_400_000_000_000, "24h"), (90_000_000_000, "1m30s"), (250_000_000, "250ms"), (1_500_000_000, "1s500ms")])
def test_format(nanos, text):
    assert format_duration(nanos) == text


@given(st.integers(min_value=1, max_value=10**18))
def test_format_round_trips(nanos):
    assert parse_duration(format_duration(nanos)) == nanos
