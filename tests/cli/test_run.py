"""`safeguards run` driven as a subprocess through pipes, as a parent trading process would."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.eventkit import Stream

POLICY = str(Path(__file__).resolve().parents[2] / "rules" / "multileg_options.yaml")
COMMAND = [sys.executable, "-m", "safeguards", "run", "--policy", POLICY]


def start() -> subprocess.Popen:
    return subprocess.Popen(COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def send(process: subprocess.Popen, event) -> dict:
    """Write one line and read its decision back: works only if the sidecar flushes per line."""
    process.stdin.write((event if isinstance(event, str) else json.dumps(event)) + "\n")
    process.stdin.flush()
    line = json.loads(process.stdout.readline())
    assert line["type"] == "decision"
    return line


def test_conversation_through_a_pipe_then_end_of_input():
    s = Stream()
    process = start()
    try:
        assert send(process, s.quote())["verdict"] == "accept"
        assert send(process, s.intent("o1"))["verdict"] == "accept"
        assert send(process, s.submit("o1"))["verdict"] == "accept"
        bad = send(process, "{not json")
        assert bad["verdict"] == "invalid" and bad["line"] == 4 and bad["reason"].startswith("line 4: ")
        missing = send(process, {"source": "broker", "type": "fill", "order_id": "o1"})
        assert missing["verdict"] == "invalid" and "line 5" in missing["reason"] and "event_id" in missing["reason"]
        assert send(process, s.broker("new", "o1", 0, 10))["verdict"] == "accept"
        process.stdin.write(json.dumps(s.broker("fill", "o1", 12, 0)) + "\n")
        process.stdin.close()
        rest = [json.loads(line) for line in process.stdout.read().splitlines()]
        stderr = process.stderr.read()
        assert process.wait(timeout=30) == 0
    finally:
        process.kill() if process.poll() is None else None
    assert [line["type"] for line in rest] == ["decision", "alert", "alert"]
    assert [line.get("kind") for line in rest[1:]] == ["overfill", "halted"]
    summary = json.loads(stderr.strip().splitlines()[-1])
    assert summary["type"] == "summary" and summary["ended_by"] == "end of input"
    assert summary["events"] == 7 and summary["verdicts"]["invalid"] == 2
    assert summary["alerts"] == {"overfill": 1, "halted": 1}


def test_sigterm_shuts_down_cleanly_with_a_summary():
    s = Stream()
    process = start()
    try:
        assert send(process, s.quote())["verdict"] == "accept"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 0
    assert stdout == ""
    summary = json.loads(stderr.strip().splitlines()[-1])
    assert summary["ended_by"] == "SIGTERM" and summary["events"] == 1


def test_bad_policy_exits_2():
    result = subprocess.run([sys.executable, "-m", "safeguards", "run", "--policy", "/nonexistent.yaml"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_a_tick_that_is_not_a_number_of_seconds_exits_2():
    for tick in ("-1", "nan"):
        result = subprocess.run([*COMMAND, "--tick", tick], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                timeout=60)
        assert result.returncode == 2, tick
        assert f"--tick {float(tick)}" in result.stderr and "0 or more" in result.stderr


def _read_line_within(process: subprocess.Popen, seconds: float) -> dict | None:
    """The next stdout line as JSON if one comes within ``seconds``, else None."""
    import select

    ready, _, _ = select.select([process.stdout], [], [], seconds)
    return json.loads(process.stdout.readline()) if ready else None


def _start_with_quick_acks(tmp_path: Path, tick: str) -> subprocess.Popen:
    """The sidecar under the reference policy with a 300ms ack timeout; intent and submit of o1 already answered."""
    from tests.eventkit import policy_with

    policy = tmp_path / "quick_ack.json"
    policy_with(clock={"timeouts": {"ack": "300ms"}}).write(policy)
    process = subprocess.Popen([sys.executable, "-m", "safeguards", "run", "--policy", str(policy), "--tick", tick],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    s = Stream()
    assert send(process, s.intent("o1"))["verdict"] == "accept"
    assert send(process, s.submit("o1"))["verdict"] == "accept"
    return process


def test_a_quiet_stream_still_gets_its_ack_timeout(tmp_path: Path):
    """The broker goes silent after our submit: the sidecar's clock moves on and the ack timeout fires by itself."""
    process = _start_with_quick_acks(tmp_path, "0.05")
    try:
        alert = _read_line_within(process, 10)  # nothing more is sent
        assert alert is not None and alert["type"] == "alert" and alert["kind"] == "ack_timeout"
        assert alert["order_id"] == "o1"
        assert _read_line_within(process, 0.5) is None  # once
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    finally:
        process.kill() if process.poll() is None else None


def test_tick_zero_moves_time_with_events_only(tmp_path: Path):
    process = _start_with_quick_acks(tmp_path, "0")
    try:
        assert _read_line_within(process, 1.0) is None
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    finally:
        process.kill() if process.poll() is None else None


def test_a_deeply_nested_line_gets_its_invalid_decision_and_the_rest_are_answered(tmp_path):
    """Hostile input never ends the sidecar (it used to exit with a RecursionError), journaled or not."""
    s = Stream()
    lines = ['{"x":' + "[" * 1000 + "]" * 1000 + "}", "[" * 100_000, json.dumps(s.quote())]
    for extra in ([], ["--journal", str(tmp_path / "journal")]):
        done = subprocess.run([*COMMAND, "--tick", "0", *extra], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        decisions = [json.loads(line) for line in done.stdout.splitlines() if '"decision"' in line]
        assert [d["verdict"] for d in decisions] == ["invalid", "invalid", "accept"], extra
        assert "nested too deeply" in decisions[0]["reason"] and "nested too deeply" in decisions[1]["reason"]
