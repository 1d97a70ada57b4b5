import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguards.journal.records import BadRecord, decode, encode, encode_raw

EVENT = {"source": "broker", "type": "fill", "event_id": "E1", "order_id": "O1", "cum_qty": 5, "last_px": 1.25, "note": "é"}


def test_round_trip_and_still_plain_json():
    line = encode(EVENT)
    assert line.endswith(b"\n")
    assert decode(line[:-1]) == EVENT
    as_json = json.loads(line)
    assert as_json["journal_crc"] and {k: v for k, v in as_json.items() if k != "journal_crc"} == EVENT


def test_flipped_byte_is_caught():
    line = bytearray(encode(EVENT)[:-1])
    line[20] ^= 0x01
    with pytest.raises(BadRecord, match="checksum"):
        decode(bytes(line))


def test_torn_line_is_caught():
    with pytest.raises(BadRecord):
        decode(encode(EVENT)[:30])


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.integers(), st.text(), st.booleans(), st.none(),
                                                                 st.floats(allow_nan=False, allow_infinity=False)), min_size=1))
def test_any_record_round_trips(record):
    assert decode(encode(record)[:-1]) == record


def test_raw_line_is_journaled_as_received_with_seq_added():
    raw = b'{"source": "broker", "type": "fill", "last_px": 1.250, "note": "\xc3\xa9"}'
    line = encode_raw(raw, 7)
    assert line.startswith(raw[:-1]) and line.endswith(b"\n")
    assert decode(line[:-1]) == {**json.loads(raw), "seq": 7}
    assert decode(encode_raw(raw, None)[:-1]) == json.loads(raw)


@pytest.mark.parametrize("raw", [b' {"a":1}', b'{"a":1} ', b'{"a":1}\r', b'{"a":\r1}', b'{"a":"\xed\xa0\x80"}'])
def test_raw_lines_a_text_reader_could_misread_are_left_to_re_encoding(raw):
    assert encode_raw(raw, 1) is None


_KEYS = st.sampled_from(["source", "type", "event_id", "qty", "last_px", "poss_dup", "note", "a-b.c", 'odd"key', "é"])
_VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
    st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@given(st.dictionaries(_KEYS, _VALUES, min_size=1))
def test_records_of_any_json_values_round_trip_with_their_types(record):
    decoded = decode(encode(record)[:-1])
    assert decoded == record
    assert [type(value) for value in decoded.values()] == [type(value) for value in record.values()]  # a bool stays a bool


def test_negative_zero_keeps_its_sign():
    assert encode({"px": -0.0}).startswith(b'{"px":-0.0,')


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinities_are_refused_not_written_as_null(bad):
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode({"source": "broker", "px": bad})


def test_a_lone_surrogate_is_refused():
    with pytest.raises(ValueError):
        encode({"note": "\ud800"})


def test_an_empty_object_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        encode({})
