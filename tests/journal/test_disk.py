"""The segment writer under a lying or failing disk (a write wrapper): all bytes, or a located error before any answer."""

from __future__ import annotations

import errno
import os

import pytest

from safeguards.errors import JournalNotDurable
from safeguards.journal import disk
from safeguards.journal.files import JOURNAL_FORMAT, SegmentWriter, read_segment, segment_name
from safeguards.journal.journaled import JournaledEngine
from tests.eventkit import reference_policy

HEADER = {"source": "control", "type": "journal_header", "journal_format": JOURNAL_FORMAT, "policy_hash": "h" * 64}


def events(first: int, count: int) -> list[dict]:
    return [{"source": "broker", "type": "new", "event_id": f"E{i}", "order_id": "O1"} for i in range(first, first + count)]


def failing_write(after_bytes: int, code: int = errno.ENOSPC):
    """Takes `after_bytes` more bytes (the last write that reaches them cut short), then fails with `code`."""
    room = [after_bytes]

    def write(descriptor: int, data) -> int:
        if room[0] <= 0:
            raise OSError(code, os.strerror(code))
        taken = os.write(descriptor, data[:room[0]])
        room[0] -= taken
        return taken
    return write


def test_short_writes_are_retried_until_every_byte_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "write", lambda descriptor, data: os.write(descriptor, data[:7]))
    writer = SegmentWriter(tmp_path / segment_name(1), HEADER)
    writer.append(events(0, 20))
    writer.close()
    reading = read_segment(tmp_path / segment_name(1), last=True)
    assert reading.records == events(0, 20) and not reading.torn_tail
    assert writer.size == (tmp_path / segment_name(1)).stat().st_size


def test_a_short_write_then_a_full_disk_fails_the_append_and_leaves_whole_records(tmp_path, monkeypatch):
    writer = SegmentWriter(tmp_path / segment_name(1), HEADER)
    writer.append(events(0, 5))
    committed = writer.size
    monkeypatch.setattr(disk, "write", failing_write(100))  # a part of the next batch fits, then ENOSPC
    with pytest.raises(JournalNotDurable, match=r"segment-000001.jsonl: cannot append .* \[ENOSPC\].*free space") as raised:
        writer.append(events(5, 5))
    assert raised.value.errno == errno.ENOSPC and raised.value.path.endswith(segment_name(1))
    assert (tmp_path / segment_name(1)).stat().st_size == committed  # the partial record was cut away
    monkeypatch.setattr(disk, "write", os.write)
    with pytest.raises(JournalNotDurable):  # the disk's state is unknown now: no further append is trusted
        writer.append(events(10, 1))
    writer.close()
    reading = read_segment(tmp_path / segment_name(1), last=True)
    assert reading.records == events(0, 5) and not reading.torn_tail


def test_a_failed_sync_is_not_retried_and_says_the_disk_may_be_failing(tmp_path, monkeypatch):
    writer = SegmentWriter(tmp_path / segment_name(1), HEADER)

    def broken_sync(descriptor: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    monkeypatch.setattr(disk, "datasync", broken_sync)
    with pytest.raises(JournalNotDurable, match=r"cannot make the journal durable .*\[EIO\].*may be failing"):
        writer.append(events(0, 3))
    monkeypatch.setattr(disk, "datasync", os.fdatasync)
    with pytest.raises(JournalNotDurable):
        writer.sync()
    writer.close()


def test_a_batch_that_cannot_be_journaled_is_not_decided(tmp_path, monkeypatch):
    journaled = JournaledEngine(reference_policy(), tmp_path / "j")
    journaled.submit(events(0, 2))
    monkeypatch.setattr(disk, "write", failing_write(0))
    with pytest.raises(JournalNotDurable):
        journaled.submit(events(2, 2))
    assert journaled.engine.arrivals == 2  # nothing of the failed batch reached the engine
    journaled.close()
    monkeypatch.setattr(disk, "write", os.write)
    with JournaledEngine(reference_policy(), tmp_path / "j") as recovered:
        assert recovered.engine.arrivals == 2


def test_a_restart_without_room_refuses_before_recovering(tmp_path, monkeypatch):
    JournaledEngine(reference_policy(), tmp_path / "j").close()
    monkeypatch.setattr(disk, "free_bytes", lambda folder: 4096)
    with pytest.raises(JournalNotDurable, match=r"cannot start journaling with only 4,096 bytes free .*free space"):
        JournaledEngine(reference_policy(), tmp_path / "j")
    monkeypatch.undo()
    JournaledEngine(reference_policy(), tmp_path / "j").close()  # the lock was released
