"""The journal's hash seed: checkpoints stay usable when the sidecar is restarted under another PYTHONHASHSEED.

Checkpoints hold str hashes (the idempotency guard's keys), so only a process
with the seed they were made under can load them. `safeguards run --journal`
re-executes itself under the journal's seed; the Python API replays instead
and warns what to set.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from safeguards import Engine
from safeguards.errors import JournalError
from safeguards.journal import seed as seed_module
from safeguards.journal.journaled import JournaledEngine
from safeguards.journal.seed import SEED_FILE, HashSeedWarning, ensure_journal_seed, journal_seed, process_seed
from safeguards.policy import load_policy
from tests.eventkit import REFERENCE
from tests.golden_stream import golden_items

COMMAND = [sys.executable, "-m", "safeguards", "run", "--policy", str(REFERENCE)]
ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONHASHSEED"}


def lines_of(seed: int = 3) -> list[str]:
    return [json.dumps(event) for kind, event in golden_items(groups=12, seed=seed) if kind == "event"]


def start(journal: Path, hash_seed: str | None, *extra: str) -> subprocess.Popen:
    environment = dict(ENVIRONMENT) if hash_seed is None else {**ENVIRONMENT, "PYTHONHASHSEED": hash_seed}
    return subprocess.Popen([*COMMAND, "--journal", str(journal), *extra], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)


def decisions(raw: bytes) -> list[dict]:
    outputs = [json.loads(line) for line in raw.splitlines()]
    return [o for o in outputs if o["type"] == "decision" and not o.get("replayed")]


def assert_same_as_uninterrupted(journal: Path, lines: list[str]) -> None:
    plain = Engine(load_policy(REFERENCE))
    for line in lines:
        plain.process(json.loads(line))
    replays = process_seed() != journal_seed(journal)  # this test process (normally) has another seed
    with pytest.warns(HashSeedWarning, match=r"PYTHONHASHSEED=\d+") if replays else contextlib.nullcontext():
        recovered = JournaledEngine(REFERENCE, journal)
    with recovered:
        assert ("by full replay" in recovered.recovery.describe()) == replays
        got = {key: order.to_dict() for key, order in recovered.engine.book.orders.items()}
        assert got == {key: order.to_dict() for key, order in plain.book.orders.items()}
        assert recovered.engine.escalation.snapshot() == plain.escalation.snapshot()


@pytest.mark.parametrize("restart_seed", ["12", None], ids=["another-pinned-seed", "unpinned"])
def test_killed_sidecar_restarted_under_another_seed_recovers_from_the_checkpoint(tmp_path, restart_seed):
    journal, lines = tmp_path / "journal", lines_of()
    first = start(journal, "11", "--checkpoint-every", "40")
    assert len(lines) > 200
    answered = 0
    for chunk in range(0, 180, 30):  # six group commits, checkpoints among them
        first.stdin.write("".join(line + "\n" for line in lines[chunk:chunk + 30]).encode())
        first.stdin.flush()
        while answered < chunk + 30:
            answered += json.loads(first.stdout.readline())["type"] == "decision"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    first.stdout.close()
    first.stdin.close()
    first.stderr.close()
    assert journal_seed(journal) == 11  # a pinned creator's seed is adopted: it needs no re-exec

    resume_at = answered - 5  # five already-answered lines are sent again: never applied twice
    second = start(journal, restart_seed, "--checkpoint-every", "40")
    out, err = second.communicate("".join(line + "\n" for line in lines[resume_at:]).encode(), timeout=120)
    text = err.decode()
    assert second.returncode == 0, text
    assert "restarting under PYTHONHASHSEED=11" in text
    found = re.search(r"recovered from checkpoint at seq (\d+)", text)
    assert found and int(found.group(1)) >= 40, text
    assert "full replay" not in text
    assert (journal / "LOCK").read_text() == str(second.pid)  # os.execve: the same process took the lock
    assert len(decisions(out)) == len(lines) - resume_at
    assert_same_as_uninterrupted(journal, lines)


def test_api_under_the_journal_seed_recovers_from_the_checkpoint_and_otherwise_says_what_to_set(tmp_path):
    journal, lines = tmp_path / "journal", lines_of()
    done = subprocess.run([*COMMAND, "--journal", str(journal)], input="".join(f"{line}\n" for line in lines).encode(),
                          capture_output=True, env=ENVIRONMENT, timeout=120)  # ends with a checkpoint
    assert done.returncode == 0, done.stderr.decode()
    seed = journal_seed(journal)
    script = (f"from safeguards.journal.journaled import JournaledEngine\n"
              f"with JournaledEngine({str(REFERENCE)!r}, {str(journal)!r}) as j: print(j.recovery.describe())")
    under_seed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                                env={**ENVIRONMENT, "PYTHONHASHSEED": str(seed)})
    assert "recovered from checkpoint at seq" in under_seed.stdout, under_seed.stderr
    assert "HashSeedWarning" not in under_seed.stderr
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                           env={**ENVIRONMENT, "PYTHONHASHSEED": str(seed + 1)})
    assert "recovered by full replay" in other.stdout
    assert other.stderr.count(f"PYTHONHASHSEED={seed} to recover from the checkpoint") == 1, other.stderr


def test_a_journal_from_before_seeds_opens_and_then_recovers_from_checkpoints(tmp_path):
    journal, lines = tmp_path / "journal", lines_of()
    with JournaledEngine(REFERENCE, journal) as old:  # this process's own random seed made its checkpoint
        old.submit([json.loads(line) for line in lines[:100]])
        old.answered()
        old.checkpoint()
    (journal / SEED_FILE).unlink()  # as a journal written before the seed file existed
    first = subprocess.run([*COMMAND, "--journal", str(journal)], input=b"", capture_output=True, env=ENVIRONMENT,
                           timeout=60)
    assert first.returncode == 0 and "by full replay" in first.stderr.decode(), first.stderr.decode()
    assert journal_seed(journal) is not None
    rest = "".join(f"{line}\n" for line in lines[100:]).encode()
    second = subprocess.run([*COMMAND, "--journal", str(journal)], input=rest, capture_output=True, env=ENVIRONMENT,
                            timeout=60)
    assert second.returncode == 0 and "recovered from checkpoint at seq" in second.stderr.decode()
    assert_same_as_uninterrupted(journal, lines)


def test_a_damaged_seed_file_is_refused_with_what_to_do(tmp_path):
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / SEED_FILE).write_text('{"hash_seed": "seven"}')
    done = subprocess.run([*COMMAND, "--journal", str(journal)], input=b"", capture_output=True, env=ENVIRONMENT,
                          timeout=60)
    assert done.returncode == 2
    assert "hash_seed must be an integer" in done.stderr.decode() and "delete the file" in done.stderr.decode()
    with pytest.raises(JournalError, match="hash_seed must be an integer"):
        JournaledEngine(REFERENCE, journal)


def test_a_new_journal_takes_a_pinned_seed_else_a_random_one(tmp_path, monkeypatch):
    monkeypatch.setattr(seed_module, "_PINNED_AT_IMPORT", "4242")
    assert ensure_journal_seed(tmp_path / "pinned") == 4242
    monkeypatch.setattr(seed_module, "_PINNED_AT_IMPORT", None)
    chosen = {ensure_journal_seed(tmp_path / f"random{k}") for k in range(4)}
    assert len(chosen) > 1 and all(0 < seed < 2**32 for seed in chosen)
    assert ensure_journal_seed(tmp_path / "pinned") == 4242  # recorded once, never replaced
