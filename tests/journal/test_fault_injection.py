"""Writes and syncs of the journal failing at random points: every answered decision survives, nothing is applied twice.

Hypothesis draws a stream (about 2,000 events of the golden stream: intents,
fills, duplicates, conflicting re-sends, malformed events), batch sizes, a
checkpoint spacing and fault points: the n-th write or sync of the journal
(:mod:`safeguards.journal.disk`) fails with ENOSPC or EIO, or a write is cut
short (a short count the writer must retry). A batch that raises
:class:`JournalNotDurable` is not answered; the caller's process then dies and
restarts on the same folder (sometimes losing what was written since the last
good sync, as a power cut after a failed fsync may) and re-sends everything it
did not see answered. Faults keep coming during recovery too. Then:

* every answered decision survives: re-deciding the recovered journal from
  scratch gives, at the answer's arrival position, the very same decision;
* nothing is applied twice: the recovered order and trading states equal one
  uninterrupted run over the stream.
"""

from __future__ import annotations

import errno
import os
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeguards import Engine
from safeguards.errors import JournalNotDurable
from safeguards.journal import disk
from safeguards.journal.files import HISTORY, read_segment, segment_name, segment_numbers
from safeguards.journal.journaled import JournaledEngine
from tests.eventkit import reference_policy
from tests.golden_stream import golden_items


EXAMPLES = 40
FAULT_KINDS = ("enospc", "eio", "short")
TRIED: list[int] = []  # fault points that were reached, one entry per example


@dataclass
class FaultyDisk:
    """The journal's write, datasync and fsync, failing at chosen operation numbers; remembers what was synced."""

    faults: dict[int, str]
    operations: int = 0
    triggered: int = 0
    synced: dict[str, int] = field(default_factory=dict)  # file -> its size at its last good sync
    last_failure: str = ""

    def _fault(self) -> str | None:
        kind = self.faults.get(self.operations)
        self.operations += 1
        if kind is not None:
            self.triggered += 1
        return kind

    def _raise(self, kind: str) -> None:
        code = errno.ENOSPC if kind == "enospc" else errno.EIO
        raise OSError(code, os.strerror(code))

    def write(self, descriptor: int, data) -> int:
        kind = self._fault()
        if kind == "short" and len(data) > 1:
            return os.write(descriptor, data[:len(data) // 2])
        if kind in ("enospc", "eio"):
            self.last_failure = "write"
            self._raise(kind)
        return os.write(descriptor, data)

    def sync(self, descriptor: int, real) -> None:
        kind = self._fault()
        if kind in ("enospc", "eio"):
            self.last_failure = "sync"
            self._raise(kind)
        real(descriptor)
        path = os.readlink(f"/proc/self/fd/{descriptor}")
        if os.path.isfile(path):
            self.synced[path] = os.fstat(descriptor).st_size

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(disk, "write", self.write)
        monkeypatch.setattr(disk, "datasync", lambda descriptor: self.sync(descriptor, os.fdatasync))
        monkeypatch.setattr(disk, "fsync", lambda descriptor: self.sync(descriptor, os.fsync))


def stream(seed: int) -> list[dict]:
    events = [event for kind, event in golden_items(groups=50, seed=seed) if kind == "event"]
    for event in events:
        if isinstance(event, dict):
            event.pop("seq", None)  # the engine numbers arrivals: a decision's seq is its place in the journal
    return events


def open_journal(folder, faulty: FaultyDisk, checkpoint_every: int) -> JournaledEngine:
    """Start-up after a death: retried while faults make recovery itself fail (they are finitely many)."""
    while True:
        try:
            return JournaledEngine(reference_policy(), folder, checkpoint_every=checkpoint_every)
        except JournalNotDurable:
            continue


def lose_unsynced_writes(folder, faulty: FaultyDisk) -> None:
    """A power cut after a failed sync: the current segment falls back to its size at its last good sync."""
    numbers = segment_numbers(folder)
    if not numbers:
        return
    path = str(folder / segment_name(numbers[-1]))
    if path in faulty.synced and os.path.getsize(path) > faulty.synced[path]:
        os.truncate(path, faulty.synced[path])


def journal_decisions(folder) -> dict[int, dict]:
    """Every input of the journal re-decided from scratch by a fresh engine, by arrival position."""
    engine = Engine(reference_policy())
    paths = [folder / HISTORY / segment_name(n) for n in segment_numbers(folder / HISTORY)]
    paths += [folder / segment_name(n) for n in segment_numbers(folder)]
    decided = {}
    for path in paths:
        for record in read_segment(path, last=path == paths[-1]).records:
            if record.get("source") != "control":
                decision = engine.process(record)
            elif record["type"] == "unreadable":
                decision = engine.invalid(None, record["reason"])
            else:
                assert record["type"] == "answered", record
                continue
            decided[engine.arrivals] = decision
    return decided


def states(engine: Engine) -> tuple[dict, dict]:
    return {key: order.to_dict() for key, order in engine.book.orders.items()}, engine.escalation.snapshot()


def key(decision: dict) -> tuple:
    return decision["event_id"], decision["order_id"], decision["verdict"], decision["rule"], decision["reason"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    faults=st.dictionaries(st.integers(0, 450), st.sampled_from(FAULT_KINDS), min_size=1, max_size=20),
    checkpoint_every=st.sampled_from((37, 150, 100_000)),
    batch_seed=st.integers(0, 2**32),
    power_cuts=st.booleans(),
)
def test_faults_at_random_points_lose_no_answer_and_apply_nothing_twice(
        seed, faults, checkpoint_every, batch_seed, power_cuts, tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.mktemp("faults") / "journal"
    events = stream(seed)
    rng = random.Random(batch_seed)
    faulty = FaultyDisk(faults)
    with monkeypatch.context() as patched:
        faulty.install(patched)
        answered: list[dict] = []
        journaled = open_journal(folder, faulty, checkpoint_every)
        sent = 0  # events answered so far: the caller re-sends from here after a death
        while sent < len(events):
            batch = [dict(event) if isinstance(event, dict) else event for event in events[sent:sent + rng.randint(1, 40)]]
            try:
                answers = journaled.submit(batch)
                answered += [decision for decision, _ in answers]
                sent += len(batch)
                journaled.answered()
                journaled.maybe_checkpoint()
            except JournalNotDurable:
                journaled.close()
                if power_cuts and faulty.last_failure == "sync":
                    lose_unsynced_writes(folder, faulty)
                journaled = open_journal(folder, faulty, checkpoint_every)
        journaled.close()
    TRIED.append(faulty.triggered)

    decided = journal_decisions(folder)
    for decision in answered:
        assert decision["seq"] in decided, f"answered decision {key(decision)} at {decision['seq']} lost"
        assert key(decided[decision["seq"]]) == key(decision)
    uninterrupted = Engine(reference_policy())
    for event in events:
        uninterrupted.process(dict(event) if isinstance(event, dict) else event)
    with JournaledEngine(reference_policy(), folder) as recovered:
        assert states(recovered.engine) == states(uninterrupted)


def test_fault_points_were_tried():
    """Runs after the property (file order): it reached thousands of journal operations and many fault points."""
    if not TRIED:
        pytest.skip("the property did not run in this session")
    print(f"\nfault injection: {sum(TRIED):,} fault points tried over {len(TRIED)} examples")
    assert sum(TRIED) >= len(TRIED)
