"""`safeguards run --journal`: group commit through a pipe, replay of unanswered output, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from safeguards.journal.journaled import JournaledEngine
from tests.eventkit import REFERENCE
from tests.journal.test_journaled import copies, life_cycle

COMMAND = [sys.executable, "-m", "safeguards", "run", "--policy", str(REFERENCE)]


def run(journal: Path, lines: list[str], *extra: str) -> subprocess.CompletedProcess:
    text = "".join(line + "\n" for line in lines)
    return subprocess.run([*COMMAND, "--journal", str(journal), *extra], input=text, capture_output=True, text=True,
                          timeout=60)


def outputs(done: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_seq_continues_and_resends_are_duplicates(tmp_path):
    events = [json.dumps(e) for e in life_cycle()]
    first = run(tmp_path / "j", events[:3] + ["{broken"])
    assert first.returncode == 0, first.stderr
    assert [(o["seq"], o["verdict"]) for o in outputs(first)] == [(1, "accept"), (2, "accept"), (3, "accept"), (4, "invalid")]
    assert outputs(first)[3]["line"] == 4
    second = run(tmp_path / "j", events[2:])
    assert "recovered" in second.stderr
    assert [(o["seq"], o["verdict"]) for o in outputs(second)] == [(5, "duplicate"), (6, "accept"), (7, "accept")]


def test_unanswered_decisions_are_replayed_first(tmp_path):
    folder = tmp_path / "j"
    with JournaledEngine(REFERENCE, folder) as journaled:
        journaled.submit(copies(life_cycle()[:2]))  # journaled and decided, never answered
    done = run(folder, [])
    replayed = outputs(done)
    assert [(o["seq"], o["verdict"], o["replayed"]) for o in replayed] == [(1, "accept", True), (2, "accept", True)]
    assert run(folder, []).stdout == ""  # answered now


def test_locked_journal_is_refused_with_exit_2(tmp_path):
    folder = tmp_path / "j"
    live = subprocess.Popen([*COMMAND, "--journal", str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ((folder / "LOCK").exists() and (folder / "LOCK").read_text().strip()):
            assert time.monotonic() < deadline, "the first sidecar never took the lock"
            time.sleep(0.05)
        second = run(folder, [])
        assert second.returncode == 2
        assert "in use by another live process" in second.stderr
    finally:
        live.stdin.close()
        live.wait(timeout=30)
    assert live.returncode == 0


def test_foreign_corrupt_and_truncated_journals_exit_2(tmp_path):
    events = [json.dumps(e) for e in life_cycle()]
    folder = tmp_path / "j"
    assert run(folder, events).returncode == 0
    other = tmp_path / "other.yaml"
    other.write_text(REFERENCE.read_text("utf-8").replace("version: 1", "version: 2", 1), "utf-8")
    foreign = subprocess.run([sys.executable, "-m", "safeguards", "run", "--policy", str(other), "--journal", str(folder)],
                             input="", capture_output=True, text=True, timeout=60)
    assert foreign.returncode == 2 and "journal belongs to" in foreign.stderr
    checkpoint = folder / "checkpoint-000002.json"  # a clean shutdown checkpoints; segment 1 went to history/
    assert checkpoint.exists() and (folder / "history" / "segment-000001.jsonl").exists()
    checkpoint.write_bytes(checkpoint.read_bytes().replace(b'"arrivals":5', b'"arrivals":6'))
    damaged = run(folder, [])
    assert damaged.returncode == 2 and "checkpoint checksum does not match" in damaged.stderr
    folder = tmp_path / "unclean"
    with JournaledEngine(REFERENCE, folder) as journaled:  # closed without a shutdown checkpoint
        journaled.submit(copies(life_cycle()))
    segment = folder / "segment-000001.jsonl"
    lines = segment.read_bytes().split(b"\n")
    assert b'"qty":10' in lines[1]
    lines[1] = lines[1].replace(b'"qty":10', b'"qty":11')
    segment.write_bytes(b"\n".join(lines))
    corrupt = run(folder, [])
    assert corrupt.returncode == 2 and "segment-000001.jsonl:2: checksum does not match" in corrupt.stderr
    segment.write_bytes(b'{"source":"control","type":"journal_hea')
    truncated = run(folder, [])
    assert truncated.returncode == 2 and "truncated" in truncated.stderr
    told = truncated.stderr.strip().splitlines()
    assert len(told) == 1 and told[0].startswith("error: ")  # one clear line, no traceback


def test_a_journal_segment_ingests_as_a_broker_event_log(tmp_path, capsys):
    """A live day's journal is tomorrow's history: events load, the journal's own records are skipped, not rejected."""
    from safeguards.cli import main
    from safeguards.journal.journaled import JournaledEngine
    from tests.eventkit import REFERENCE
    from tests.journal.test_journaled import life_cycle

    with JournaledEngine(REFERENCE, tmp_path / "j") as journaled:
        journaled.submit(life_cycle())
        journaled.answered()
        journaled.submit(life_cycle("O2", "G2"))
    [segment] = sorted((tmp_path / "j").rglob("segment-*.jsonl"))
    assert main(["ingest", str(segment), "--db", str(tmp_path / "history.duckdb")]) == 0
    out = capsys.readouterr().out
    assert "rows loaded:   10\nrows rejected: 0\n" in out
    assert "journal control records): 2\n" in out  # the header and the answered marker


def test_an_ack_timeout_fired_while_quiet_is_journaled_and_not_raised_again(tmp_path):
    """The quiet sidecar's advance is journaled: after a crash and replay, a late ack does not fire the timeout again."""
    from tests.eventkit import policy_with

    policy = tmp_path / "quick_ack.json"
    policy_with(clock={"timeouts": {"ack": "300ms"}}).write(policy)
    command = [sys.executable, "-m", "safeguards", "run", "--policy", str(policy), "--journal", str(tmp_path / "j"),
               "--tick", "0.05"]
    intent, submit, new = (dict(e) for e in life_cycle()[:3])
    new["broker_ts"], new["recv_ts"] = new["broker_ts"] + 10**9, new["recv_ts"] + 10**9  # the ack, a second late
    live = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        live.stdin.write(json.dumps(intent) + "\n" + json.dumps(submit) + "\n")
        live.stdin.flush()
        lines = [json.loads(live.stdout.readline()) for _ in range(3)]  # two decisions, then the alert by itself
        live.kill()  # no shutdown checkpoint: the restart must replay the journal, advance included
        live.wait(timeout=30)
    finally:
        live.kill() if live.poll() is None else None
    assert [(line["type"], line.get("kind")) for line in lines] == [("decision", None), ("decision", None),
                                                                    ("alert", "ack_timeout")]
    again = subprocess.run(command, input=json.dumps(new) + "\n", capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    fresh = [o for o in outputs(again) if not o.get("replayed")]
    resent = [o for o in outputs(again) if o.get("replayed")]  # killed before "answered" was on disk: sent again
    assert [(o["type"], o.get("verdict")) for o in fresh] == [("decision", "accept")]
    assert [o["kind"] for o in resent] in ([], ["ack_timeout"])


def test_a_run_that_starts_a_new_session_finds_the_gaps_of_its_numbering(tmp_path):
    """Yesterday's run numbered up to 30; today's starts over at 1 and loses 3 and 4: --new-session finds the gap."""
    def fills(first_cum: int, numbers: list[int]) -> list[str]:
        return [json.dumps({"source": "broker", "type": "partial_fill", "event_id": f"x-{first_cum + k}", "order_id": "O1",
                            "last_qty": 1, "last_px": 1.0, "cum_qty": first_cum + k, "leaves_qty": 1000 - first_cum - k,
                            "broker_ts": 1_771_684_200_000_000_000 + (first_cum + k) * 10**6,
                            "recv_ts": 1_771_684_200_000_000_000 + (first_cum + k) * 10**6 + 1000, "broker_seq": number})
                for k, number in enumerate(numbers)]
    opening = [dict(e) for e in life_cycle(qty=1000)[:3]]
    opening[2]["broker_seq"] = 1
    for started_anew in (True, False):
        journal = tmp_path / f"j-{started_anew}"
        first = run(journal, [json.dumps(e) for e in opening] + fills(1, list(range(2, 31))))
        assert first.returncode == 0, first.stderr
        second = run(journal, fills(100, [1, 2, 5, 6]), *(["--new-session"] if started_anew else []))
        assert second.returncode == 0, second.stderr
        gaps = [o for o in outputs(second) if o.get("kind") == "sequence_gap"]
        assert len(gaps) == (1 if started_anew else 0), second.stdout
    assert run(tmp_path / "none", [], "--new-session").returncode == 0
    refused = subprocess.run([*COMMAND, "--new-session"], input="", capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--new-session needs --journal" in refused.stderr


def test_plain_and_journaled_runs_answer_the_same_input_alike(tmp_path):
    """Issue 15 item 10: `seq` is the arrival position in both (blank lines are not arrivals), whatever the line number."""
    events = life_cycle()
    lines = [json.dumps(events[0]), "", "{broken", "{}", "[1]", json.dumps({**events[1], "seq": None}), "   ",
             json.dumps(events[2]), json.dumps({**events[3], "seq": 77}), json.dumps(events[4])]
    text = "".join(line + "\n" for line in lines)
    plain = subprocess.run([*COMMAND, "--tick", "0"], input=text, capture_output=True, text=True, timeout=60)
    journaled = run(tmp_path / "j", lines, "--tick", "0")
    assert plain.returncode == journaled.returncode == 0, plain.stderr + journaled.stderr
    assert outputs(plain) == outputs(journaled)
    decisions = [o for o in outputs(plain) if o["type"] == "decision"]
    assert [d["seq"] for d in decisions] == [1, 2, 3, 4, 5, 6, 77, 8]
    assert [d["line"] for d in decisions if d["verdict"] == "invalid"] == [3, 4, 5]
    assert decisions[2]["reason"] == "line 4: an empty JSON object is not an event (an event has at least source and type)"
    assert decisions[3]["reason"] == "line 5: a canonical event is a JSON object, not an array"
