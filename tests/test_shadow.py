"""Shadow mode (issue 16 item 7): a candidate decides live traffic beside the live version, enforcing nothing.

The sidecar's answers are byte for byte those of a run without --shadow; the
run folder holds both versions' decisions and alerts as `backtest --compare`
lays them out, and the differences are those of the two engines run side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from safeguards import Engine
from safeguards.registry import Registry
from safeguards.signing import Signer
from safeguards.swap import carry
from tests.eventkit import REFERENCE, policy_with
from tests.golden_stream import golden_items

COMMAND = [sys.executable, "-m", "safeguards", "run", "--tick", "0"]


def rows_of(path: Path) -> list[dict]:
    return pq.read_table(path, columns=["seq", "event_id", "verdict", "policy", "type"]).to_pylist()


def lines_of() -> list[str]:
    lines = [json.dumps(e) for kind, e in golden_items(groups=10, seed=4) if kind == "event" and type(e) is dict]
    return lines[:150] + ["{not json"] + lines[150:]


def candidate(tmp_path: Path):
    pol = policy_with(metadata={"version": 2}, hedging={"max_depth": 1})
    pol.write(tmp_path / "candidate.json")
    return pol


def run(*arguments: str, lines: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *arguments], input="".join(f"{line}\n" for line in lines), capture_output=True,
                          text=True, timeout=120)


def verdicts_side_by_side(live: Engine, other: Engine, lines: list[str]) -> tuple[list[str], list[str], int]:
    a, b, alerts = [], [], 0
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            a.append(live.invalid(None, "x")["verdict"]), b.append(other.invalid(None, "x")["verdict"])
            continue
        a.append(live.process(dict(event))["verdict"])
        b.append(other.process(dict(event))["verdict"])
        live.pop_alerts()
        alerts += len(other.pop_alerts())
    return a, b, alerts


def test_shadow_answers_exactly_as_without_it_and_writes_both_versions_as_a_compare_run(tmp_path):
    pol, lines = candidate(tmp_path), lines_of()
    plain = run("--policy", str(REFERENCE), lines=lines)
    shadowed = run("--policy", str(REFERENCE), "--shadow", str(tmp_path / "candidate.json"),
                   "--shadow-out", str(tmp_path / "shadow"), lines=lines)
    assert plain.returncode == shadowed.returncode == 0, shadowed.stderr
    assert shadowed.stdout == plain.stdout  # nothing of the candidate is enforced, or even shown

    out = tmp_path / "shadow"
    live_rows, other_rows = rows_of(out / "decisions.parquet"), rows_of(out / "other" / "decisions.parquet")
    assert len(live_rows) == len(other_rows) == len(lines)
    assert [r["seq"] for r in live_rows] == [r["seq"] for r in other_rows] == list(range(1, len(lines) + 1))
    assert {r["policy"] for r in other_rows} == {pol.identity}
    stdout_verdicts = [json.loads(l)["verdict"] for l in plain.stdout.splitlines() if '"type":"decision"' in l]
    assert [r["verdict"] for r in live_rows] == stdout_verdicts

    expected_a, expected_b, candidate_alerts = verdicts_side_by_side(Engine(REFERENCE), Engine(pol), lines)
    assert [r["verdict"] for r in other_rows] == expected_b
    changed = sum(a != b for a, b in zip(expected_a, expected_b))
    assert changed > 0  # depth-1 hedges: the candidate blocks what production accepts
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["a"] == Engine(REFERENCE).identity and comparison["b"] == pol.identity
    assert comparison["verdict_changes"] == changed == pq.read_table(out / "verdict_changes.parquet").num_rows
    assert pq.read_table(out / "other" / "alerts.parquet").num_rows == candidate_alerts
    for folder in (out, out / "other"):
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["events"] == len(lines) and summary["data"]["kind"] == "live"
    assert f"compare {comparison['a']} (A) with {pol.identity} (B) on {len(lines)} events" in shadowed.stderr
    assert not (out / ".shadow-parts").exists()


def test_a_journaled_shadow_starts_from_the_recovered_state(tmp_path):
    pol, lines = candidate(tmp_path), lines_of()
    half = len(lines) // 2
    journal = tmp_path / "journal"
    first = run("--policy", str(REFERENCE), "--journal", str(journal), lines=lines[:half])
    assert first.returncode == 0, first.stderr
    second = run("--policy", str(REFERENCE), "--journal", str(journal), "--shadow", str(tmp_path / "candidate.json"),
                 "--shadow-out", str(tmp_path / "shadow"), lines=lines[half:])
    assert second.returncode == 0, second.stderr
    assert f"started from the live engine's state ({half:,} inputs)" in second.stderr

    live = Engine(REFERENCE)
    verdicts_side_by_side(live, Engine(REFERENCE), lines[:half])
    other = carry(live, pol)
    _, expected_b, _ = verdicts_side_by_side(live, other, lines[half:])
    rows = rows_of(tmp_path / "shadow" / "other" / "decisions.parquet")
    assert [r["verdict"] for r in rows] == expected_b
    assert rows[0]["seq"] == half + 1
    # numbered from the journal's arrivals, the traffic is stored under those numbers: the folder is evidence
    from safeguards.promotion import read_evidence
    taken = read_evidence(tmp_path / "shadow")
    assert taken.document["metrics"]["events"] + taken.document["metrics"]["invalid_events"] == len(lines) - half


def test_a_promoted_candidate_is_loaded_verified_and_mistakes_are_refused(tmp_path):
    pol = candidate(tmp_path)
    runtime = tmp_path / "runtime"
    Registry(runtime, pol.name).record("promote", pol.hash, pol.version, "alice", "v2", Signer.load(),
                                       evidence_digest="0" * 64, artifact=pol)
    done = run("--policy", str(REFERENCE), "--shadow", f"{runtime / pol.name}@2", "--shadow-out",
               str(tmp_path / "s"), lines=lines_of()[:10])
    assert done.returncode == 0, done.stderr
    assert f"shadow {pol.identity} beside the live version" in done.stderr
    never = run("--policy", str(REFERENCE), "--shadow", f"{runtime / pol.name}@7", "--shadow-out", str(tmp_path / "s"),
                lines=[])
    assert never.returncode == 2 and "version 7 was never promoted" in never.stderr
    alone = run("--policy", str(REFERENCE), "--shadow", str(tmp_path / "candidate.json"), lines=[])
    assert alone.returncode == 2 and "--shadow needs --shadow-out DIR" in alone.stderr
    assert "Traceback" not in never.stderr + alone.stderr


def test_the_compare_notebook_reads_a_shadow_run_instead_of_replaying(tmp_path, capsys):
    from safeguards.cli import main

    pol, lines = candidate(tmp_path), lines_of()
    done = run("--policy", str(REFERENCE), "--shadow", str(tmp_path / "candidate.json"), "--shadow-out",
               str(tmp_path / "shadow"), lines=lines)
    assert done.returncode == 0, done.stderr
    code = main(["notebook", "run", "compare", "--runs", str(tmp_path / "runs"), "-p", "policy", str(REFERENCE),
                 "-p", "other", str(tmp_path / "candidate.json"), "-p", "shadow", str(tmp_path / "shadow"),
                 "-p", "events", ""])
    printed = capsys.readouterr().out
    folder = next((tmp_path / "runs" / "multileg_options" / "1").iterdir())
    comparison = json.loads((folder / "comparison.json").read_text())
    assert comparison == json.loads((tmp_path / "shadow" / "comparison.json").read_text())  # read, not replayed
    assert comparison["verdict_changes"] > 0
    evidence = json.loads((folder / "other" / "metrics.json").read_text())
    assert evidence["dataset"]["kind"] == "live" and evidence["run"]["made_by"] == "safeguards run --shadow"
    invalid = json.loads((folder / "other" / "summary.json").read_text())["verdicts"]["invalid"]
    assert invalid >= 1  # '{not json' at least: decided invalid, counted so, and no stored event
    assert evidence["metrics"]["events"] == len(lines) - invalid and evidence["metrics"]["invalid_events"] == invalid
    page = (folder / "compare.html").read_text()
    # Live traffic backs the clean-traffic gate; this stream carries faults, so the candidate's critical alerts fail
    # it (a real fault on the day fails it too: such a day is no clean baseline), and the gates that count labelled
    # faults cannot be judged on it.
    assert pol.identity in page and "data-verdict='FAIL'" in page
    assert code == 1 and f"FAIL: candidate {pol.identity}" in printed
    assert "gate FAIL no_critical_alerts_on_clean_traffic: critical_alerts = " in printed
    assert "gate n/a detects_every_fault_kind: needs a run on labeled data" in printed
    assert "to promote:" not in printed and "not promotable as is" in printed


def test_a_candidate_that_cannot_take_the_live_state_starts_empty_and_says_why(tmp_path):
    from safeguards.shadow import Shadow

    live = Engine(REFERENCE)
    for line in lines_of()[:30]:
        live.process(json.loads(line))
    live.pop_alerts()
    other_key = policy_with(metadata={"version": 2}, idempotency={"key": ["event_id"]})
    shadow = Shadow(other_key, live, tmp_path / "s")
    assert shadow.engine.arrivals == 0 and "idempotency key" in shadow.describe()
    assert shadow.describe().startswith(f"shadow {other_key.identity} beside the live version, started empty")
    carried = Shadow(candidate(tmp_path), live, tmp_path / "t")
    assert carried.engine.arrivals == 30 and "from the live engine's state (30 inputs)" in carried.describe()
