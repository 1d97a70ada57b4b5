"""A full disk: the sidecar stops before answering what it cannot journal, and loses nothing it answered.

Issue 15 item 1: on a 3 MB filesystem the sidecar answered decisions whose
records a short write had cut, then died with a raw ``OSError``. Here the
sidecar (``safeguards run --journal``, in process) is fed a stream larger than
its disk, on a real tmpfs when the test may mount one (as root), else on the
write wrapper of :mod:`tests.journal.small_disk`; the test prints which.
"""

from __future__ import annotations

import json

import pytest

from safeguards import Engine
from safeguards.journal.journaled import JournaledEngine, Line
from safeguards.sidecar import parse_line
from tests.eventkit import reference_policy
from tests.golden_stream import golden_items
from tests.journal.small_disk import run_journaled_sidecar, small_disk

SIZE = 3 << 20


def stream() -> list[bytes]:
    return [json.dumps(event).encode() for kind, event in golden_items(groups=800, seed=15) if kind == "event"]


def decide_as_the_sidecar(engine: Engine, lines: list[bytes]) -> list[dict]:
    """The decisions of an uninterrupted sidecar over `lines`: parsed as it parses them."""
    decisions = []
    for raw in lines:
        parsed = parse_line(raw)
        decisions.append(engine.process(parsed.event) if type(parsed) is Line else engine.invalid(None, parsed[1]))
    return decisions


def key(decision: dict) -> tuple:
    return decision["seq"], decision["event_id"], decision["verdict"], decision["rule"]


@pytest.mark.parametrize("mount", [True, False], ids=["tmpfs-if-allowed", "write-wrapper"])
def test_full_disk_stops_answering_and_recovery_loses_nothing_answered(mount, tmp_path, monkeypatch, capsys):
    lines = stream()
    with small_disk(tmp_path / "disk", SIZE, monkeypatch, mount=mount) as small:
        journal = small.folder / "journal"
        code, outputs, err = run_journaled_sidecar(journal, lines, monkeypatch, capsys)
        answered = [o for o in outputs if o["type"] == "decision"]
        assert code == 2 and "Traceback" not in err
        assert "No space left on device [ENOSPC]" in err and "free space on it" in err, err
        assert "stopped answering: lines" in err or "cannot write a checkpoint" in err, err  # a batch, or after one
        assert 0 < len(answered) < len(lines), "the stream must not fit on the disk"

        # A restart on the still-full disk refuses before it answers anything.
        code, outputs, err = run_journaled_sidecar(journal, lines[len(answered):], monkeypatch, capsys)
        assert code == 2 and outputs == [] and "Traceback" not in err
        assert "cannot start journaling with only" in err and "free space on it" in err, err

        small.make_room()
        with JournaledEngine(reference_policy(), journal) as recovered:
            journaled = recovered.engine.arrivals
            recovered_states = {k: o.to_dict() for k, o in recovered.engine.book.orders.items()}
        plain = Engine(reference_policy())
        decided = decide_as_the_sidecar(plain, lines[:journaled])
        assert journaled >= len(answered)
        assert [key(d) for d in decided[:len(answered)]] == [key(d) for d in answered], "an answered decision was lost"
        assert recovered_states == {k: o.to_dict() for k, o in plain.book.orders.items()}
        figures = (f"disk-full test on {small.kind}: {len(answered):,} decisions answered, {journaled:,} inputs "
                   f"recovered, all {len(answered):,} answered decisions found in the journal")

        # With room again, the caller re-sends what it never saw answered: the day ends as if nothing happened.
        code, outputs, err = run_journaled_sidecar(journal, lines[len(answered):], monkeypatch, capsys)
        assert code == 0, err
        uninterrupted = Engine(reference_policy())
        decide_as_the_sidecar(uninterrupted, lines)
        with JournaledEngine(reference_policy(), journal) as final:
            assert ({k: o.to_dict() for k, o in final.engine.book.orders.items()}
                    == {k: o.to_dict() for k, o in uninterrupted.book.orders.items()})
    print("\n" + figures)
