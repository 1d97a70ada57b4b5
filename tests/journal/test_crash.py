"""Real crash tests: `safeguards run --journal` killed with SIGKILL at random moments, then restarted.

Each stream (a small seeded golden stream: intents, submits, fills, late and
swapped deliveries, duplicates, conflicting re-sends, malformed lines) is fed
through the sidecar's pipe in random chunks, so group commits vary in size. The
sidecar is killed KILLS times at random moments: after the caller has read a
random number of decisions, or after a random delay (which also lands in
start-up and recovery). After each kill the caller restarts it on the same
journal and re-sends everything it has not seen answered plus a few lines it
has. Then the invariants, against one uninterrupted plain Engine over the stream:

* no acknowledged intent lost: every intent whose ``accept`` the caller read is recorded;
* no broker event applied twice, and final order states (cum_qty included) and
  trading states equal the uninterrupted run's.

Checkpoints every 23 or 61 records (or effectively never) put kills inside
checkpointing too. Each life of the sidecar runs under another PYTHONHASHSEED
(or none): checkpoints are the core's format, the same in every process, so
restarts recover from them. The final check recovers twice in this process:
from the journal as it is (its last checkpoint) and from a copy without
checkpoints (every segment replayed, history/ included): both paths are checked.

STREAMS x KILLS = 40 x 5 = 200 kill points; streams run four at a time.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from safeguards import Engine
from safeguards.journal.journaled import JournaledEngine
from safeguards.policy import load_policy
from tests.eventkit import REFERENCE
from tests.golden_stream import golden_items


STREAMS = 40
KILLS = 5
BATCHES = 8
PARALLEL = 4


@pytest.fixture(scope="module")
def compiled_policy(tmp_path_factory) -> Path:
    """The reference policy compiled once: the sidecar starts faster from JSON."""
    path = tmp_path_factory.mktemp("policy") / "policy.json"
    subprocess.run([sys.executable, "-m", "safeguards", "compile", str(REFERENCE), "-o", str(path)], check=True,
                   capture_output=True)
    return path


def stream_lines(seed: int) -> list[str]:
    events = [event for kind, event in golden_items(groups=5, seed=seed) if kind == "event"]
    return [json.dumps(event) for event in events]


class Run:
    """One life of the sidecar: lines sent from `start`, decisions read back, maybe a SIGKILL."""

    def __init__(self, command: list[str], lines: list[str], start: int, rng: random.Random, stderr_path: Path,
                 hash_seed: str | None):
        self.lines, self.start, self.rng = lines, start, rng
        self.stderr = open(stderr_path, "ab")
        environment = {name: value for name, value in os.environ.items() if name != "PYTHONHASHSEED"}
        if hash_seed is not None:
            environment["PYTHONHASHSEED"] = hash_seed
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                        env=environment)
        self.decisions: list[dict] = []

    def _feed(self, close: bool) -> None:
        rng, pending = self.rng, self.lines[self.start:]
        try:
            while pending:
                size = rng.randint(1, 24)
                chunk, pending = pending[:size], pending[size:]
                self.process.stdin.write("".join(line + "\n" for line in chunk).encode())
                self.process.stdin.flush()
                if rng.random() < 0.5:
                    threading.Event().wait(rng.uniform(0, 0.003))
            if close:
                self.process.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # killed while we were writing: exactly what happens to a real caller

    def _kill(self) -> None:
        try:
            os.kill(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def crash(self) -> None:
        """Feed, and SIGKILL after a random number of decisions or a random delay."""
        remaining = len(self.lines) - self.start
        writer = threading.Thread(target=self._feed, args=(False,), daemon=True)
        writer.start()
        timer = None
        if self.rng.random() < 0.3:
            target = None
            timer = threading.Timer(self.rng.uniform(0.0, 0.6), self._kill)
            timer.start()
        else:
            target = self.rng.randint(0, remaining)
        if target == 0:
            self._kill()
        for raw in self.process.stdout:
            self._take(raw)
            if target is not None and len(self.decisions) >= target:
                self._kill()
                break
        self._kill()
        self.process.wait()
        if timer is not None:
            timer.cancel()
        writer.join(timeout=10)
        self._close()

    def finish(self) -> int:
        """Feed the rest, close stdin, read every answer; the exit code."""
        writer = threading.Thread(target=self._feed, args=(True,), daemon=True)
        writer.start()
        for raw in self.process.stdout:
            self._take(raw)
        writer.join(timeout=30)
        code = self.process.wait(timeout=30)
        self._close()
        return code

    def _take(self, raw: bytes) -> None:
        output = json.loads(raw)
        if output["type"] == "decision" and not output.get("replayed"):
            self.decisions.append(output)

    def _close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except (BrokenPipeError, OSError):
                pass
        self.stderr.close()


def crash_and_recover(seed: int, policy: Path, folder: Path) -> int:
    """Run one stream through KILLS crashes and a clean finish; check the invariants. Kills made."""
    rng = random.Random(seed)
    lines = stream_lines(seed)
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "safeguards", "run", "--policy", str(policy), "--journal", str(folder / "journal"),
               "--checkpoint-every", str(rng.choice((23, 61, 100_000)))]
    acknowledged_intents: set[str] = set()
    start = 0
    for _ in range(KILLS):
        run = Run(command, lines, start, rng, folder / "stderr.log", rng.choice(("7", "8", None)))
        run.crash()
        acknowledged_intents |= _intents_accepted(run.decisions)
        answered_up_to = start + len(run.decisions)
        start = max(0, answered_up_to - rng.randint(0, 8))  # re-send some already-answered lines too
    last = Run(command, lines, start, rng, folder / "stderr.log", rng.choice(("7", "8", None)))
    code = last.finish()
    log = (folder / "stderr.log").read_text(errors="replace")
    assert code == 0, f"seed {seed}: final run exited {code}\n{log[-2000:]}"
    assert len(last.decisions) == len(lines) - start, f"seed {seed}: not every line answered\n{log[-2000:]}"
    acknowledged_intents |= _intents_accepted(last.decisions)

    uninterrupted = Engine(load_policy(policy))
    for line in lines:
        uninterrupted.process(json.loads(line))
    replayed = folder / "replayed"
    shutil.copytree(folder / "journal", replayed)
    for checkpoint in replayed.glob("checkpoint-*.json"):
        checkpoint.unlink()
    for journal, how in ((folder / "journal", "from checkpoint"), (replayed, "by full replay")):
        _check_recovered(journal, how, policy, seed, acknowledged_intents, uninterrupted)
    return KILLS


def _check_recovered(journal: Path, how: str, policy: Path, seed: int, acknowledged_intents: set[str],
                     uninterrupted: Engine) -> None:
    with JournaledEngine(load_policy(policy), journal) as recovered:
        assert recovered.recovery.describe().startswith(f"recovered {how}"), recovered.recovery.describe()
        assert recovered.recovery.unanswered == [], f"seed {seed}: a clean finish left answers owed"
        engine = recovered.engine
        for order_id in acknowledged_intents:
            order = engine.order(order_id)
            assert order is not None and order["has_intent"], f"seed {seed}: acknowledged intent {order_id} lost"
        expected = {key: order.to_dict() for key, order in uninterrupted.book.orders.items()}
        got = {key: order.to_dict() for key, order in engine.book.orders.items()}
        assert got == expected, f"seed {seed}: order states differ from the uninterrupted run"
        assert engine.escalation.snapshot() == uninterrupted.escalation.snapshot(), f"seed {seed}: trading states differ"


def _intents_accepted(decisions: list[dict]) -> set[str]:
    return {d["order_id"] for d in decisions if d["verdict"] == "accept" and d["rule"] == "intent_recorded"}


@pytest.mark.parametrize("batch", range(BATCHES))
def test_sigkill_at_random_moments_loses_nothing_and_applies_nothing_twice(batch, compiled_policy, tmp_path):
    seeds = range(batch * STREAMS // BATCHES, (batch + 1) * STREAMS // BATCHES)
    with ThreadPoolExecutor(PARALLEL) as pool:
        kills = list(pool.map(lambda seed: crash_and_recover(1000 + seed, compiled_policy, tmp_path / str(seed)), seeds))
    assert sum(kills) == KILLS * len(seeds)


def test_the_suite_makes_at_least_200_kill_points():
    assert STREAMS * KILLS >= 200
