"""A journal written by an older release (Python engine checkpoints, hash-seed.json) is recovered by replay.

Its segments are the same format; its checkpoint holds the Python engine's
state, with dedup keys salted by the PYTHONHASHSEED recorded in
``hash-seed.json``. This release keeps no such hash: recovery replays the
journal's records (history/ included) instead of the checkpoint, says so, and
removes the seed file; the next start-up recovers from a checkpoint of its own.
The old journal is ``fixtures/old-journal/``, made once by
``fixtures/make_old_journal.py`` while the Python engine existed; each test
works on a copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from safeguards import Engine
from safeguards.errors import EngineError
from safeguards.journal.journaled import JournaledEngine
from safeguards.policy import load_policy

FIXTURE = Path(__file__).parent / "fixtures" / "old-journal"
POLICY = FIXTURE / "policy.json"


@pytest.fixture
def old_journal(tmp_path: Path) -> Path:
    journal = tmp_path / "journal"
    shutil.copytree(FIXTURE / "journal", journal)
    return journal


def events() -> list[dict]:
    return [json.loads(line) for line in (FIXTURE / "events.jsonl").read_text("utf-8").splitlines()]


def test_the_fixture_is_an_old_release_s_journal(old_journal: Path) -> None:
    """What makes it old: a checkpoint in the Python engine's format, salted str hashes, the seed file beside it."""
    checkpoint = json.loads((old_journal / "checkpoint-000002.json").read_text("utf-8"))["content"]
    assert checkpoint["hash_seed"] == 11 and "format" not in checkpoint["state"]
    assert (old_journal / "hash-seed.json").is_file()
    assert (old_journal / "history").is_dir()  # the records before the checkpoint are there to replay
    with pytest.raises(EngineError, match="is not \"safeguards-core/1\"; recover by replaying"):
        Engine.from_state(load_policy(POLICY), checkpoint["state"])


def test_an_old_journal_is_recovered_by_replaying_its_records_and_says_so(old_journal: Path) -> None:
    stream = events()
    with JournaledEngine(POLICY, old_journal) as recovered:
        report = recovered.recovery.describe()
        assert report.startswith("recovered by full replay (checkpoint-000002.json not used: an older release wrote "
                                 "it in the Python engine's format, not safeguards-core/1"), report
        assert "removed hash-seed.json of an older release" in report
        assert recovered.recovery.records == len(stream) + 2  # every input, and an answered marker per segment
        uninterrupted = Engine(load_policy(POLICY))
        for event in stream:
            uninterrupted.process(dict(event))
        uninterrupted.pop_alerts()
        assert recovered.engine.state() == uninterrupted.state()
        recovered.shutdown()  # a checkpoint of this release's own
    assert not (old_journal / "hash-seed.json").exists()

    again = subprocess.run([sys.executable, "-m", "safeguards", "run", "--policy", str(POLICY), "--tick", "0",
                            "--journal", str(old_journal)], input=b"", capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr.decode()
    assert "recovered from checkpoint at seq" in again.stderr.decode()
    assert "older release" not in again.stderr.decode()


def test_the_sidecar_tells_the_operator_it_replayed_an_old_journal(old_journal: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "safeguards", "run", "--policy", str(POLICY), "--tick", "0",
                           "--journal", str(old_journal)], input=b"", capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "by full replay (checkpoint-000002.json not used: an older release wrote it" in err
    assert "removed hash-seed.json" in err
    assert "restarting under" not in err and "PYTHONHASHSEED=" not in err  # no re-exec any more
