import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguards.journal.records import BadRecord, decode, encode

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
