"""The engine's sequence-gap check on FIX logs: no alert for skipped session messages, one for a real loss."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from safeguards.backtest.replay import run_backtest
from tests.adapters.test_fix import msg, write

POLICY = Path(__file__).resolve().parents[2] / "rules" / "multileg_options.yaml"


def gap_alerts(tmp_path: Path, *lines: str) -> list[str]:
    log = write(tmp_path / "session.log", *lines)
    run_backtest(POLICY, tmp_path / "run", events=log)
    alerts = pl.read_parquet(tmp_path / "run" / "alerts.parquet")
    return alerts.filter(pl.col("kind") == "sequence_gap")["detail"].to_list()


def report(exec_id: str, seq: int, second: int, *fields: str) -> str:
    sent = f"20260221-14:30:{second:02d}.000"
    return f"20260221-14:30:{second:02d}.001 : " + msg("8", "11=A", "37=X", f"17={exec_id}", *fields, seq=seq, sent=sent)


def session(lost: bool) -> list[str]:
    return [
        "20260221-14:30:00.000 : " + msg("D", "11=A", "55=SPY", "54=1", "38=10", seq=2),
        report("E1", 2, 0, "150=0", "39=0", "14=0", "151=10"),
        "20260221-14:30:01.000 : " + msg("0", seq=3),  # heartbeats between reports
        "20260221-14:30:02.000 : " + msg("0", seq=4, sent="20260221-14:30:02.000"),
        report("E2", 7 if lost else 5, 3, "150=F", "39=1", "32=4", "31=1", "14=4", "151=6"),
    ]


def test_heartbeats_between_reports_raise_no_sequence_gap(tmp_path: Path) -> None:
    assert gap_alerts(tmp_path, *session(lost=False)) == []


def test_messages_really_missing_raise_one_sequence_gap(tmp_path: Path) -> None:
    assert gap_alerts(tmp_path, *session(lost=True)) == ["broker_seq jumped from 2 to 5: 2 message(s) missing"]
