import json

import pytest

from safeguards.errors import JournalError, JournalLocked
from safeguards.journal.files import (
    JOURNAL_FORMAT, JournalLock, SegmentWriter, iter_journal_events, read_checkpoint, read_segment, segment_name,
    write_checkpoint,
)

HEADER = {"source": "control", "type": "journal_header", "journal_format": JOURNAL_FORMAT, "policy_hash": "h" * 64}
EVENTS = [{"source": "broker", "type": "new", "event_id": f"E{i}", "order_id": "O1"} for i in range(5)]


def write(folder, events=EVENTS, number=1):
    writer = SegmentWriter(folder / segment_name(number), HEADER)
    writer.append(events)
    writer.close()
    return folder / segment_name(number)


def test_written_records_read_back(tmp_path):
    path = write(tmp_path)
    reading = read_segment(path, last=True)
    assert reading.header == HEADER and reading.records == EVENTS and not reading.torn_tail
    assert list(iter_journal_events(tmp_path)) == EVENTS


def test_torn_final_line_is_dropped_and_reported(tmp_path):
    path = write(tmp_path)
    path.write_bytes(path.read_bytes() + b'{"source":"broker","type":"fi')
    reading = read_segment(path, last=True)
    assert reading.torn_tail and reading.records == EVENTS
    writer = SegmentWriter(path)  # reopening cuts the torn tail before appending
    assert writer.torn_tail_dropped
    writer.append([{"source": "broker", "type": "fill", "event_id": "E9", "order_id": "O1"}])
    writer.close()
    assert [r["event_id"] for r in read_segment(path, last=True).records][-2:] == ["E4", "E9"]


def test_torn_line_in_an_earlier_segment_is_corruption(tmp_path):
    first = write(tmp_path)
    first.write_bytes(first.read_bytes() + b'{"sou')
    write(tmp_path, number=2)
    with pytest.raises(JournalError, match="earlier segment ends in a torn line"):
        list(iter_journal_events(tmp_path))


def test_corrupt_middle_line_names_the_line(tmp_path):
    path = write(tmp_path)
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b'"E2"', b'"E7"')
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError, match=r"segment-000001.jsonl:4: checksum does not match"):
        read_segment(path, last=True)


def test_segment_without_header_is_refused(tmp_path):
    path = write(tmp_path)
    path.write_bytes(b"")
    with pytest.raises(JournalError, match="no complete header"):
        read_segment(path, last=True)


def test_newer_format_is_refused(tmp_path):
    writer = SegmentWriter(tmp_path / segment_name(1), {**HEADER, "journal_format": 99})
    writer.close()
    with pytest.raises(JournalError, match="journal format 99; this release reads format 1"):
        read_segment(tmp_path / segment_name(1), last=True)


def test_lock_is_exclusive_and_released(tmp_path):
    first = JournalLock(tmp_path)
    with pytest.raises(JournalLocked, match="in use by another live process"):
        JournalLock(tmp_path)
    first.release()
    JournalLock(tmp_path).release()


STATE = {"format": "safeguards-core/1", "ids": ["é", "a\x7f\n"], "qty": [0.1, 1e22, 3], "nested": {"b": None, "a": True}}
CONTENT = {"journal_format": JOURNAL_FORMAT, "policy": "p@1#abc", "policy_hash": "h" * 64, "segment": 2}


def test_a_state_spliced_in_as_text_writes_the_same_checkpoint_as_the_state_itself(tmp_path):
    text = json.dumps(STATE, sort_keys=True, separators=(",", ":"))  # what Engine.state_text() writes
    write_checkpoint(tmp_path / "spliced.json", CONTENT, {"state": text})
    write_checkpoint(tmp_path / "whole.json", {**CONTENT, "state": STATE})
    assert (tmp_path / "spliced.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert read_checkpoint(tmp_path / "spliced.json") == {**CONTENT, "state": STATE}


@pytest.mark.parametrize("damage", [
    lambda data: data.replace(b'"segment":2', b'"segment":3'),  # content changed: the seal no longer matches
    lambda data: data[:-1],  # cut short
    lambda data: data.replace(b'"sha256": "', b'"sha": "'),  # no seal
    lambda data: b"",
])
def test_a_damaged_checkpoint_is_refused(tmp_path, damage):
    path = tmp_path / "checkpoint-000002.json"
    write_checkpoint(path, CONTENT, {"state": "{}"})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(JournalError, match=r"checkpoint-000002.json: (checkpoint checksum does not match|not a readable)"):
        read_checkpoint(path)
