"""safeguards backtest from the command line: exit 0 ok, 1 an applicable gate failed, 2 bad input."""

from __future__ import annotations

import json

from safeguards.cli import main

from ..backtesting import CANDIDATE, REFERENCE, simulated


def test_backtest_prints_summary_scoring_and_gates(tmp_path, capsys):
    log = simulated(tmp_path, "small", seed=5, groups=60)
    out = tmp_path / "run"
    assert main(["backtest", "--policy", str(REFERENCE), "--events", str(log), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(labeled)" in printed and "missed 0" in printed
    # 60 groups hold too few of some fault kinds to prove anything: the gate is not judged, and the run is no failure
    assert "gate n/a detects_every_fault_kind: not enough evidence: every fault kind needs 5 labelled instances" in printed
    assert "gate n/a no_critical_alerts_on_clean_traffic: needs a run on clean data" in printed
    for name in ("decisions.parquet", "alerts.parquet", "summary.json", "metrics.json", "scoring.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text())["dataset"]["kind"] == "labeled"


def test_a_failing_gate_exits_1_and_compare_prints_the_differences(tmp_path, capsys):
    """Only hedge-depth faults, backtested with the candidate that allows one more level: recall 0."""
    log = simulated(tmp_path, "deep", seed=7, groups=80, faults="none", rates=("hedge_depth=0.5",))
    code = main(["backtest", "--policy", str(CANDIDATE), "--events", str(log), "--out", str(tmp_path / "run"),
                 "--compare", str(REFERENCE)])
    printed = capsys.readouterr().out
    assert code == 1
    assert "gate FAIL detects_every_fault_kind: recall[hedge_depth] = 0" in printed
    assert "events get a different verdict" in printed and "accept -> block" in printed
    assert "alerts appeared with B (" in printed and "hedge_depth_exceeded" in printed.split("alerts appeared with B")[1]
    assert (tmp_path / "run" / "comparison.json").is_file() and (tmp_path / "run" / "other" / "metrics.json").is_file()


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["backtest", "--policy", str(REFERENCE), "--events", str(tmp_path / "none.jsonl"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["backtest", "--policy", str(tmp_path / "nope.yaml"), "--db", str(tmp_path / "x.duckdb"),
                 "--out", str(tmp_path / "o")]) == 2


def test_out_naming_a_file_is_refused_before_any_work(tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine\n")
    for out in (taken, taken / "run"):
        assert main(["backtest", "--policy", str(REFERENCE), "--events", "data/sample.jsonl", "--out", str(out)]) == 2
        assert "--out" in capsys.readouterr().err
    assert taken.read_text() == "mine\n"
