"""A journal cut exactly at a record boundary is refused, saying what is missing (issue 15 item 3).

Such a journal reads as whole (no torn line, every seal good), so the journal
keeps what it needs to know better: ``committed.mark`` (how far it had
committed) and each segment header's ``arrivals`` (where the segment before it ended).
"""

from __future__ import annotations

import pytest

from safeguards.errors import JournalError
from safeguards.journal.committed import MARK_FILE, read_mark
from safeguards.journal.files import HISTORY, checkpoint_numbers, segment_name
from safeguards.journal.journaled import JournaledEngine
from tests.eventkit import reference_policy
from tests.journal.test_journaled import copies, life_cycle


def journal_of(folder, orders=6, checkpoint_every=None):
    """A journal of `orders` life cycles, each batch answered; the last one left open (no shutdown checkpoint)."""
    with JournaledEngine(reference_policy(), folder, checkpoint_every=checkpoint_every) as journaled:
        for number in range(orders):
            journaled.submit(copies(life_cycle(f"O{number}", f"G{number}")))
            journaled.answered()
            journaled.maybe_checkpoint()
        return journaled.engine.arrivals


def drop_last_lines(path, count):
    lines = path.read_bytes().split(b"\n")[:-1]
    path.write_bytes(b"".join(line + b"\n" for line in lines[:-count]))


def test_the_current_segment_cut_at_a_record_boundary_is_refused(tmp_path):
    folder = tmp_path / "j"
    journaled = journal_of(folder)
    drop_last_lines(folder / segment_name(1), 4)  # the last answered marker and three events
    with pytest.raises(JournalError, match=rf"ends at input {journaled - 3} .* had committed through input "
                                           rf"{journaled} .*: 3 journaled input\(s\) are missing.*Restore the journal"):
        JournaledEngine(reference_policy(), folder)


def test_lost_control_records_at_the_end_are_refused_too(tmp_path):
    folder = tmp_path / "j"
    with JournaledEngine(reference_policy(), folder) as journaled:
        journaled.submit(copies(life_cycle()))
        journaled.advance(1_771_684_300_000_000_000)
    drop_last_lines(folder / segment_name(1), 1)
    with pytest.raises(JournalError, match="journaled records are missing"):
        JournaledEngine(reference_policy(), folder)


def test_a_missing_current_segment_is_refused(tmp_path):
    folder = tmp_path / "j"
    journal_of(folder, orders=7, checkpoint_every=12)  # checkpoints after 15 and 30 inputs, then 5 more
    last = max(checkpoint_numbers(folder))
    (folder / segment_name(last)).unlink()  # its checkpoint is there: it reads as a crash before the segment was made
    with pytest.raises(JournalError, match="ends at input 30 .* through input 35 .*: 5 journaled input"):
        JournaledEngine(reference_policy(), folder)


def test_a_finished_segment_cut_short_is_refused_on_a_full_replay(tmp_path):
    folder = tmp_path / "j"
    journal_of(folder, checkpoint_every=12)
    for number in checkpoint_numbers(folder):  # as if no checkpoint were usable: replay history/ too
        (folder / f"checkpoint-{number:06d}.json").unlink()
    drop_last_lines(folder / HISTORY / segment_name(1), 2)
    with pytest.raises(JournalError, match=r"segment-000002.jsonl: this segment begins after input 15, but the journal "
                                           r"before it ends at input 14"):
        JournaledEngine(reference_policy(), folder)


def test_a_missing_finished_segment_is_refused(tmp_path):
    folder = tmp_path / "j"
    journal_of(folder, checkpoint_every=6)
    for number in checkpoint_numbers(folder):
        (folder / f"checkpoint-{number:06d}.json").unlink()
    (folder / HISTORY / segment_name(2)).unlink()
    with pytest.raises(JournalError, match=r"history/segment-000002.jsonl is missing"):
        JournaledEngine(reference_policy(), folder)


def test_a_whole_journal_recovers_and_a_journal_without_a_mark_gains_one(tmp_path):
    folder = tmp_path / "j"
    arrivals = journal_of(folder, checkpoint_every=12)
    assert read_mark(folder).arrivals == arrivals
    (folder / MARK_FILE).unlink()  # a journal written before commit marks
    with JournaledEngine(reference_policy(), folder) as recovered:
        assert recovered.engine.arrivals == arrivals
    assert read_mark(folder).arrivals == arrivals


def test_a_torn_mark_falls_back_to_the_one_before_it(tmp_path):
    folder = tmp_path / "j"
    arrivals = journal_of(folder, orders=2)
    path = folder / MARK_FILE
    slots = path.read_bytes().split(b"\n")[:-1]
    newer = max(range(2), key=lambda index: b'"arrivals":%d,' % arrivals in slots[index])
    slots[newer] = slots[newer][:40] + b"\x00" * (len(slots[newer]) - 40)  # a kill inside the store
    path.write_bytes(b"".join(slot + b"\n" for slot in slots))
    assert read_mark(folder).arrivals < arrivals  # the older mark: never a false alarm
    with JournaledEngine(reference_policy(), folder) as recovered:
        assert recovered.engine.arrivals == arrivals


def test_a_damaged_mark_is_refused_with_what_to_do(tmp_path):
    folder = tmp_path / "j"
    journal_of(folder, orders=1)
    path = folder / MARK_FILE
    path.write_bytes(path.read_bytes().replace(b'"arrivals":', b'"arrivalz":'))  # both slots
    with pytest.raises(JournalError, match="commit mark is damaged; .*delete this file"):
        JournaledEngine(reference_policy(), folder)
