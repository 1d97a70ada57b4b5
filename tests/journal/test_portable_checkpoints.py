"""Checkpoints are the core's format: one written under one PYTHONHASHSEED loads under another.

The Python engine's checkpoints held salted str hashes, so the sidecar had to
re-execute itself under the journal's seed. The core's dedup keys are xxh3 of
canonical bytes: a sidecar killed under one seed and restarted under another
(or none) recovers from its checkpoint, not by replaying, and decides the rest
of the stream exactly as an uninterrupted engine does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from safeguards import Engine
from safeguards.policy import load_policy
from tests.eventkit import REFERENCE
from tests.golden_stream import golden_items

COMMAND = [sys.executable, "-m", "safeguards", "run", "--policy", str(REFERENCE), "--tick", "0"]
ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONHASHSEED"}


def lines_of(seed: int = 3) -> list[str]:
    return [json.dumps(event) for kind, event in golden_items(groups=12, seed=seed) if kind == "event"]


def start(journal: Path, hash_seed: str | None) -> subprocess.Popen:
    environment = dict(ENVIRONMENT) if hash_seed is None else {**ENVIRONMENT, "PYTHONHASHSEED": hash_seed}
    return subprocess.Popen([*COMMAND, "--journal", str(journal), "--checkpoint-every", "40"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)


def fresh_decisions(raw: bytes) -> list[dict]:
    outputs = [json.loads(line) for line in raw.splitlines()]
    return [o for o in outputs if o["type"] == "decision" and not o.get("replayed")]


@pytest.mark.parametrize("restart_seed", ["12", None], ids=["another-pinned-seed", "unpinned"])
def test_a_checkpoint_made_under_one_hash_seed_resumes_under_another_with_the_same_decisions(tmp_path, restart_seed):
    journal, lines = tmp_path / "journal", lines_of()
    assert len(lines) > 200
    first = start(journal, "11")
    answered = 0
    for chunk in range(0, 180, 30):  # six group commits, checkpoints among them
        first.stdin.write("".join(line + "\n" for line in lines[chunk:chunk + 30]).encode())
        first.stdin.flush()
        while answered < chunk + 30:
            answered += json.loads(first.stdout.readline())["type"] == "decision"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    for pipe in (first.stdin, first.stdout, first.stderr):
        pipe.close()
    assert not (journal / "hash-seed.json").exists()  # no seed to keep beside the journal any more
    checkpoints = sorted(journal.glob("checkpoint-*.json"))
    assert checkpoints and json.loads(checkpoints[-1].read_text())["content"]["state"]["format"] == "safeguards-core/1"

    uninterrupted = Engine(load_policy(REFERENCE))
    expected = [uninterrupted.process(json.loads(line)) for line in lines]
    accepted_broker = [line for line, decision in zip(lines[:answered], expected) if decision["verdict"] == "accept"
                       and json.loads(line)["source"] == "broker"]
    again = accepted_broker[-5:]  # answered before the kill: re-sent, they must be remembered
    assert len(again) == 5

    second = start(journal, restart_seed)
    out, err = second.communicate("".join(line + "\n" for line in again + lines[answered:]).encode(), timeout=120)
    text = err.decode()
    assert second.returncode == 0, text
    found = re.search(r"recovered from checkpoint at seq (\d+)", text)
    assert found and int(found.group(1)) >= 120, text  # the checkpoint loaded: no full replay
    assert "full replay" not in text and "PYTHONHASHSEED" not in text
    got = fresh_decisions(out)
    assert [d["verdict"] for d in got[:5]] == ["duplicate"] * 5  # dedup memory came through the checkpoint
    # the same decisions as the uninterrupted run, each five arrivals later (the re-sent lines arrived too)
    assert [{k: v for k, v in d.items() if k != "type"} for d in got[5:]] == \
        [{**d, "seq": d["seq"] + 5} for d in expected[answered:]]
