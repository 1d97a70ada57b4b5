"""The simulator writes FIX message logs: a clean session raises nothing through the FIX path; faults are scored."""

from __future__ import annotations

import json
from pathlib import Path

from safeguards.cli import main

POLICY = str(Path(__file__).resolve().parents[2] / "rules" / "multileg_options.yaml")


def run(tmp_path: Path, *simulate: str) -> tuple[int, dict, Path]:
    log, db, out = tmp_path / "day.log", tmp_path / "db.duckdb", tmp_path / "run"
    assert main(["simulate", "--seed", "3", "--groups", "120", "-o", str(log), "--quiet", *simulate]) == 0
    assert main(["ingest", str(log), "--db", str(db)]) == 0
    code = main(["backtest", "--policy", POLICY, "--db", str(db), "--out", str(out),
                 "--labels", str(tmp_path / "day.log.labels.jsonl")])
    return code, json.loads((out / "summary.json").read_text()), log


def test_a_clean_simulated_fix_session_backtests_with_no_alert_and_exit_0(tmp_path: Path, capsys) -> None:
    code, summary, log = run(tmp_path, "--faults", "none")
    assert code == 0
    assert summary["alert_severities"] == {} or not any(summary["alert_severities"].get(s) for s in ("warning", "critical"))
    text = log.read_text(encoding="latin-1")
    assert " : 8=FIX.4.4\x019=" in text and "\x0135=AB\x01" in text and "\x0135=8\x01" in text  # QuickFIX layout
    assert (tmp_path / "day.log.labels.jsonl").read_text() == ""


def test_faults_injected_into_a_fix_log_are_detected_through_ingest(tmp_path: Path, capsys) -> None:
    _, summary, _ = run(tmp_path)
    kinds = json.loads((tmp_path / "run" / "scoring.json").read_text())["by_fault_kind"]
    assert kinds and all(kind["missed"] == 0 for kind in kinds.values()), kinds
    assert "submit_without_intent" not in kinds  # a FIX log cannot carry it (ingest takes an intent from every D)
