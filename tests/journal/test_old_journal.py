"""A journal written by an older release (Python engine checkpoints, hash-seed.json) is recovered by replay.

Its segments are the same format; its checkpoint holds the Python engine's
state, with dedup keys salted by the PYTHONHASHSEED recorded in
``hash-seed.json``. This release keeps no such hash: recovery replays the
journal's records (history/ included) instead of the checkpoint, says so, and
removes the seed file; the next start-up recovers from a checkpoint of its own.
The old journal is made here as that release made it: segments through the
journal, and a checkpoint holding the Python engine's state after the same inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys

from safeguards import Engine
from safeguards.engine import Engine as PythonEngine
from safeguards.guards.idempotency import hash_probe
from safeguards.journal.files import JOURNAL_FORMAT, checkpoint_name, write_checkpoint
from safeguards.journal.journaled import JournaledEngine
from safeguards.policy import load_policy
from tests.eventkit import REFERENCE
from tests.golden_stream import golden_items


def events() -> list[dict]:
    return [event for kind, event in golden_items(groups=8, seed=5) if kind == "event" and type(event) is dict]


def old_journal(folder, stream: list[dict], split: int) -> None:
    """A journal as the release with the Python engine left it: its checkpoint at `split`, then more records."""
    policy = load_policy(REFERENCE)
    with JournaledEngine(policy, folder) as journaled:
        journaled.submit([dict(event) for event in stream[:split]])
        journaled.answered()
        path = journaled.checkpoint()
        journaled.submit([dict(event) for event in stream[split:]])
        journaled.answered()  # closed without a shutdown checkpoint: a crash, as far as recovery can tell
    python = PythonEngine(policy)
    for event in stream[:split]:
        python.process(dict(event))
        python.pop_alerts()
    number = int(path.name.split("-")[1].split(".")[0])
    assert path.name == checkpoint_name(number)
    write_checkpoint(path, {"journal_format": JOURNAL_FORMAT, "policy": policy.identity, "policy_hash": policy.hash,
                            "segment": number, "hash_probe": hash_probe(), "hash_seed": 11,
                            "state": python.state()})
    (folder / "hash-seed.json").write_text(json.dumps({"hash_seed": 11, "why": "checkpoints hold str hashes"}))


def test_an_old_journal_is_recovered_by_replaying_its_records_and_says_so(tmp_path):
    journal, stream = tmp_path / "journal", events()
    old_journal(journal, stream, split=len(stream) // 2)
    assert (journal / "history").is_dir()  # the records before the checkpoint are there to replay

    with JournaledEngine(REFERENCE, journal) as recovered:
        report = recovered.recovery.describe()
        assert report.startswith("recovered by full replay (checkpoint-000002.json not used: an older release wrote "
                                 "it in the Python engine's format, not safeguards-core/1"), report
        assert "removed hash-seed.json of an older release" in report
        assert recovered.recovery.records == len(stream) + 2  # every input, and an answered marker per segment
        uninterrupted = Engine(load_policy(REFERENCE))
        for event in stream:
            uninterrupted.process(dict(event))
        uninterrupted.pop_alerts()
        assert recovered.engine.state() == uninterrupted.state()
        recovered.shutdown()  # a checkpoint of this release's own
    assert not (journal / "hash-seed.json").exists()

    again = subprocess.run([sys.executable, "-m", "safeguards", "run", "--policy", str(REFERENCE), "--tick", "0",
                            "--journal", str(journal)], input=b"", capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr.decode()
    assert "recovered from checkpoint at seq" in again.stderr.decode()
    assert "older release" not in again.stderr.decode()


def test_the_sidecar_tells_the_operator_it_replayed_an_old_journal(tmp_path):
    journal, stream = tmp_path / "journal", events()
    old_journal(journal, stream, split=40)
    done = subprocess.run([sys.executable, "-m", "safeguards", "run", "--policy", str(REFERENCE), "--tick", "0",
                           "--journal", str(journal)], input=b"", capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "by full replay (checkpoint-000002.json not used: an older release wrote it" in err
    assert "removed hash-seed.json" in err
    assert "restarting under" not in err and "PYTHONHASHSEED=" not in err  # no re-exec any more
