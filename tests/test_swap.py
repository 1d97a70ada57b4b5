"""Policy hot swap (issue 16 item 6): a running sidecar takes a promotion or a rollback of its policy name.

Real subprocesses following a throwaway registry (signed with the test key of
tests/conftest.py): decisions switch their `policy` identity, the dedup memory
comes across, an incompatible version is refused and the old one keeps
running, and a restart (from the checkpoint, or by replaying every record)
resumes on the version the journal switched to.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from safeguards.errors import JournalError
from safeguards.journal.journaled import JournaledEngine
from safeguards.promotion import rollback
from safeguards.registry import Registry
from safeguards.signing import Signer
from safeguards.swap import Follower, carry, Incompatible, incompatibilities
from tests.eventkit import policy_with
from tests.golden_stream import golden_items

NAME = "multileg_options"


def version(number: int, **sections):
    return policy_with(metadata={"version": number}, **sections)


def promote_version(tmp_path: Path, pol) -> None:
    """A signed registry entry making `pol` live, as `safeguards promote` writes once the gates pass.

    The gates are not what is tested here (tests/test_promotion.py is), so no backtest is run for them.
    """
    Registry(tmp_path / "runtime", NAME).record("promote", pol.hash, pol.version, "alice", f"v{pol.version}",
                                                Signer.load(), evidence_digest="0" * 64, artifact=pol)


def lines_of() -> list[str]:
    return [json.dumps(event) for kind, event in golden_items(groups=6, seed=9) if kind == "event"
            and type(event) is dict]


class Sidecar:
    """`safeguards run --follow` in a subprocess, talked to line by line."""

    def __init__(self, tmp_path: Path, *extra: str):
        command = [sys.executable, "-m", "safeguards", "run", "--follow", str(tmp_path / "runtime" / NAME),
                   "--tick", "0", "--follow-every", "0.2", *extra]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=(tmp_path / "stderr.log").open("ab"))
        self.log = tmp_path / "stderr.log"

    def send(self, lines: list[str]) -> list[dict]:
        """Write the lines, read back exactly their decisions (and the alerts among them)."""
        self.process.stdin.write("".join(line + "\n" for line in lines).encode())
        self.process.stdin.flush()
        decisions: list[dict] = []
        while len(decisions) < len(lines):
            output = json.loads(self.process.stdout.readline())
            if output["type"] == "decision" and not output.get("replayed"):  # owed from before a crash: not ours
                decisions.append(output)
        return decisions

    def wait_for(self, kind: str) -> dict:
        """SIGHUP, then the next alert of `kind` (the registry was just changed)."""
        self.process.send_signal(signal.SIGHUP)
        while True:
            line = self.process.stdout.readline()
            assert line, self.log.read_text()
            output = json.loads(line)
            if output.get("kind") == kind:
                return output
            assert output.get("kind") not in ("policy_switched", "policy_switch_refused"), output

    def finish(self) -> tuple[int, list[dict]]:
        out, _ = self.process.communicate(timeout=60)
        return self.process.returncode, [json.loads(line) for line in out.splitlines()]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process.stdin.close()
        self.process.stdout.close()


def accepted_broker_lines(decisions: list[dict], lines: list[str]) -> list[str]:
    return [line for line, d in zip(lines, decisions) if d["verdict"] == "accept" and json.loads(line)["source"] == "broker"]


def test_a_promotion_and_a_rollback_reach_a_running_journaled_sidecar_and_survive_a_restart(tmp_path):
    v1, v2 = version(1), version(2, hedging={"max_depth": 1})
    promote_version(tmp_path, v1)
    lines = lines_of()
    third = len(lines) // 3
    journal = tmp_path / "journal"

    first = Sidecar(tmp_path, "--journal", str(journal))
    before = first.send(lines[:third])
    assert {d["policy"] for d in before} == {v1.identity}
    promote_version(tmp_path, v2)
    switched = first.wait_for("policy_switched")
    assert switched["severity"] == "info" and switched["policy"] == v2.identity
    assert f"switched from {v1.identity} to {v2.identity}" in switched["detail"]
    again = accepted_broker_lines(before, lines[:third])[-4:]
    assert len(again) == 4
    repeated = first.send(again)  # answered under v1: the v2 engine remembers them
    assert [(d["verdict"], d["policy"]) for d in repeated] == [("duplicate", v2.identity)] * 4
    middle = first.send(lines[third:2 * third])
    assert {d["policy"] for d in middle} == {v2.identity}
    first.kill()  # a crash after the switch

    second = Sidecar(tmp_path, "--journal", str(journal))
    assert [d["verdict"] for d in second.send(again[:2])] == ["duplicate"] * 2
    log = second.log.read_text()
    assert "recovered from checkpoint" in log and f"{v2.identity} ready" in log, log
    rollback(NAME, 1, "bob", "v2 misbehaves", tmp_path / "runtime")
    back = second.wait_for("policy_switched")
    assert back["policy"] == v1.identity and "rollback by bob" in back["detail"]
    rest = second.send(lines[2 * third:])
    assert {d["policy"] for d in rest} == {v1.identity}
    code, _ = second.finish()
    assert code == 0, second.log.read_text()

    # Without its checkpoints the journal is replayed from its first record: both switches, in order.
    replayed = tmp_path / "replayed"
    shutil.copytree(journal, replayed)
    for checkpoint in replayed.glob("checkpoint-*.json"):
        checkpoint.unlink()
    follower = Follower(tmp_path / "runtime" / NAME)
    with JournaledEngine(follower.live(), journal, follower=follower) as resumed:
        expected = resumed.engine.state()
    with JournaledEngine(follower.live(), replayed, follower=follower) as again_replayed:
        report = again_replayed.recovery.describe()
        assert report.startswith("recovered by full replay")
        assert f"replayed the switch to {v2.identity}; replayed the switch to {v1.identity}" in report, report
        assert again_replayed.engine.identity == v1.identity
        assert again_replayed.engine.state() == expected


def test_an_incompatible_version_is_refused_with_the_reason_and_the_old_one_keeps_running(tmp_path):
    v1 = version(1)
    v2 = version(2, idempotency={"key": ["event_id"]})
    promote_version(tmp_path, v1)
    lines = lines_of()
    sidecar = Sidecar(tmp_path)  # plain: no journal, the same loop
    sidecar.send(lines[:20])
    promote_version(tmp_path, v2)
    refused = sidecar.wait_for("policy_switch_refused")
    assert refused["severity"] == "warning" and refused["policy"] == v1.identity
    assert f"refused {v2.identity}" in refused["detail"] and "idempotency key is ['event_id']" in refused["detail"]
    assert f"still running {v1.identity}" in refused["detail"]
    later = sidecar.send(lines[20:40])
    assert {d["policy"] for d in later} == {v1.identity}
    code, outputs = sidecar.finish()
    assert code == 0
    assert not [o for o in outputs if o.get("kind") == "policy_switch_refused"]  # said once, not at every look
    assert "refused" in sidecar.log.read_text()


def test_a_tampered_registry_is_refused_while_running(tmp_path):
    promote_version(tmp_path, version(1))
    sidecar = Sidecar(tmp_path)
    sidecar.send(lines_of()[:5])
    registry = tmp_path / "runtime" / NAME / "registry.jsonl"
    registry.write_text(registry.read_text().replace('"alice"', '"mallory"'))
    refused = sidecar.wait_for("policy_switch_refused")
    assert "cannot be trusted" in refused["detail"] and "does not match its hash" in refused["detail"]
    assert sidecar.finish()[0] == 0


def test_compatibility_is_one_function_with_a_reason_for_each_difference():
    v1 = version(1)
    assert incompatibilities(v1, version(2, hedging={"max_depth": 1}, idempotency={"window": "2h"})) == []
    reasons = incompatibilities(v1, version(2, idempotency={"key": ["event_id"], "ignore_fields": ["seq"]}))
    assert len(reasons) == 2 and "idempotency key" in reasons[0] and "ignore_fields" in reasons[1]
    other_name = policy_with(metadata={"name": "other", "version": 2})
    assert any("follows one policy name" in reason for reason in incompatibilities(v1, other_name))
    tables = json.loads(json.dumps(v1.tables))
    tables["ordering"]["terminal"] = [s for s in tables["ordering"]["terminal"] if s != "done_for_day"]
    from safeguards.policy.compiled import CompiledPolicy
    fewer = CompiledPolicy.from_tables({k: v for k, v in tables.items() if k != "hash"})
    assert incompatibilities(v1, fewer) == [
        "its terminal states differ (drops done_for_day): orders held as finished (or not) would be judged under "
        "another life cycle"]


def test_the_state_comes_across_and_an_incompatible_carry_changes_nothing():
    from safeguards import Engine
    v1, v2 = version(1), version(2, hedging={"max_depth": 1})
    engine = Engine(v1)
    for line in lines_of()[:60]:
        engine.process(json.loads(line))
    engine.pop_alerts()
    carried = carry(engine, v2)
    assert carried.identity == v2.identity
    assert {k: v for k, v in carried.state().items() if k != "policy_hash"} == \
        {k: v for k, v in engine.state().items() if k != "policy_hash"}
    with pytest.raises(Incompatible, match="idempotency key"):
        carry(engine, version(3, idempotency={"key": ["event_id"]}))


def test_a_journal_that_switched_needs_its_registry_to_be_replayed(tmp_path):
    v1, v2 = version(1), version(2, hedging={"max_depth": 1})
    journal = tmp_path / "journal"
    with JournaledEngine(v1, journal) as journaled:
        journaled.submit([json.loads(line) for line in lines_of()[:30]])
        journaled.answered()
        journaled.switch(v2)
        journaled.shutdown()
    with JournaledEngine(v2, journal) as resumed:  # from the checkpoint the switch wrote: v2's own
        assert resumed.engine.identity == v2.identity
    with pytest.raises(JournalError, match=f"journal belongs to {v2.identity}, not {v1.identity}.*--follow"):
        JournaledEngine(v1, journal)
    for checkpoint in journal.glob("checkpoint-*.json"):
        checkpoint.unlink()
    with pytest.raises(JournalError, match=f"journal belongs to {v1.identity}, not {v2.identity}.*--follow"):
        JournaledEngine(v2, journal)  # replay begins under v1, which only a registry can vouch for
