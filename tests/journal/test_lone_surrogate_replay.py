"""A journal written before lone surrogates were screened, holding a line that escapes one, replays sanely.

Before that fix the sidecar journaled such a line as the event it read
(``parse_line`` gave ``Line(event, raw)``; ``encode_raw`` seals its ASCII bytes
as received), then the engine raised UnicodeEncodeError on a canonical field
holding one: the batch was journaled, never answered, and the process ended.
Today's ``parse_line`` quarantines the line instead; but the old journal's record
is an event, and recovery hands it to ``Engine.process``, whose screen now
answers it `invalid`. The journal here is written through the journal's own API
with the old ``parse_line``, so its bytes are the old writer's (the journal's
encoding did not change with the fix).

A lone surrogate in a field the engine does not read (``note``) never ended the
old sidecar: it answered the event `accept`, and replay answers it so again,
rebuilding the state the caller was told about, where today's sidecar answers
such a line `invalid`. So an old journal and today's journal of the same lines
recover to the same state only when the field is a canonical one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from safeguards import Engine
from safeguards.journal.files import segment_name
from safeguards.journal.journaled import JournaledEngine, Line
from safeguards.jsonlines import loads
from safeguards.sidecar import parse_line
from tests.eventkit import REFERENCE
from tests.journal.test_journaled import life_cycle


def old_parse_line(raw: bytes) -> Line:
    """What ``sidecar.parse_line`` returned for an object line before the fix: the event, not screened."""
    return Line(loads(raw), raw)


def lines_with(field: str) -> list[bytes]:
    """An order's life as input lines, and between its fills another order's intent whose `field` holds a lone
    surrogate (escaped, as json writes it)."""
    events = life_cycle()
    odd = {**life_cycle("O2", "G2")[0], "recv_ts": events[3]["recv_ts"]}
    odd[field] = odd.get(field, "") + "\ud800"
    events.insert(4, odd)
    return [json.dumps(event).encode() for event in events]


def write_old_journal(folder: Path, lines: list[bytes], parse=old_parse_line) -> None:
    """The first three lines answered; the rest one batch, journaled, then the process ended before answering."""
    with JournaledEngine(REFERENCE, folder) as journaled:
        journaled.submit([parse(raw) for raw in lines[:3]])
        journaled.answered()
        journaled.submit([parse(raw) for raw in lines[3:]])  # the old engine raised here: no answers


@pytest.mark.parametrize("field, verdict", [("event_id", "invalid"), ("order_id", "invalid"), ("note", "accept")])
def test_an_old_journal_holding_a_lone_surrogate_recovers_and_replays_like_a_fresh_engine(
    tmp_path: Path, field: str, verdict: str
) -> None:
    lines = lines_with(field)
    folder = tmp_path / "journal"
    write_old_journal(folder, lines)
    segment = (folder / segment_name(1)).read_bytes()
    assert b"\\ud800" in segment and b'"unreadable"' not in segment  # journaled as an event, as received

    with JournaledEngine(REFERENCE, folder) as recovered:
        report = recovered.recovery
        assert not report.fresh and report.records == len(lines) + 1  # every input and the one answered marker
        replayed = [decision for decision, _ in report.unanswered]
        assert [d["verdict"] for d in replayed] == ["accept", verdict, "accept"]  # the unanswered batch, re-sent
        assert [d["seq"] for d in replayed] == [4, 5, 6]
        if verdict == "invalid":  # a canonical field: the binding's screen names it
            assert replayed[1]["reason"] == (f"field '{field}': expected a string, got text with an unpaired "
                                             "surrogate (half of a character)")
        # else: an unknown field the engine never reads, accepted as the old release answered it live

        fresh = Engine(REFERENCE)
        for raw in lines:
            fresh.process(loads(raw))
        fresh.pop_alerts()
        assert recovered.engine.state() == fresh.state()
        assert recovered.engine.counts == fresh.counts and recovered.engine.arrivals == len(lines)
        assert recovered.engine.order("O1")["state"] == "filled" and not recovered.engine.pop_alerts()
        assert (recovered.engine.order("O2") is not None) == (verdict == "accept")

        write_old_journal(tmp_path / "today", lines, parse=parse_line)  # today's sidecar: the line quarantined
        with JournaledEngine(REFERENCE, tmp_path / "today") as today:
            assert (today.engine.state() == fresh.state()) == (verdict == "invalid")

        # The same line sent again today is quarantined before it is journaled; the engine goes on.
        [(again, _)] = recovered.submit([parse_line(lines[4])])
        assert again["verdict"] == "invalid" and "holds an unpaired surrogate" in again["reason"]
        recovered.answered()
    with JournaledEngine(REFERENCE, folder) as twice:  # and the journal, old record and new, recovers again
        assert twice.recovery.unanswered == [] and twice.engine.arrivals == len(lines) + 1


def test_the_sidecar_re_sends_the_replayed_invalid_answer(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    write_old_journal(folder, lines_with("event_id"))
    done = subprocess.run([sys.executable, "-m", "safeguards", "run", "--policy", str(REFERENCE), "--tick", "0",
                           "--journal", str(folder)], input=b"", capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.isascii()
    decisions = [json.loads(line) for line in done.stdout.splitlines() if b'"type":"decision"' in line]
    assert [(d["verdict"], d.get("replayed")) for d in decisions] == [("accept", True), ("invalid", True),
                                                                     ("accept", True)]
    assert decisions[1]["event_id"] == "i-O2\ud800"  # the id as received, written as JSON's escape
