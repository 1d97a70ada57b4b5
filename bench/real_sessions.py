"""What the product makes of every real log in ../shared/data/real: read, verdicts, alerts, exit codes.

A report, not a test (the tests pin the counts: tests/adapters/test_*_real.py and
friends). Each log is ingested as a new user would, with no flag, into its own
store, then backtested with the reference policy, both through the command line.
Run from the repository root:

    .venv/bin/python bench/real_sessions.py [--data ../shared/data/real] [--workdir bench/out/real]

It prints one table: per log, the rows loaded, rejected and skipped on ingest, the
verdicts, the alerts by severity and kind, and both exit codes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "rules" / "multileg_options.yaml"
#: Each folder's log files (the folders' other files are their provenance and counts).
SKIP = {"SOURCE.txt", "independent-parse.json", "README.md"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "safeguards", *args]


def one_log(log: Path, workdir: Path) -> dict[str, object]:
    name = f"{log.parent.name}/{log.name}"
    folder = workdir / log.parent.name / log.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db, out = folder / "store.duckdb", folder / "run"
    ingest = subprocess.run(command("ingest", str(log), "--db", str(db)), capture_output=True, text=True)
    row: dict[str, object] = {"log": name, "ingest_exit": ingest.returncode}
    if ingest.returncode != 0:
        row["ingest_error"] = (ingest.stderr or ingest.stdout).strip().splitlines()[-1]
        return row
    backtest = subprocess.run(command("backtest", "--policy", str(POLICY), "--db", str(db), "--out", str(out)),
                              capture_output=True, text=True)
    row["backtest_exit"] = backtest.returncode
    if backtest.returncode not in (0, 1):
        row["backtest_error"] = (backtest.stderr or backtest.stdout).strip().splitlines()[-1]
        return row
    summary = json.loads((out / "summary.json").read_text())
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        row["loaded"], row["rejected"], row["skipped"] = con.execute(
            "SELECT sum(rows_loaded), sum(rows_rejected), sum(rows_skipped) FROM ingests").fetchone()
    row["verdicts"] = summary["verdicts"]
    row["severities"] = summary["alert_severities"]
    row["alerts"] = summary["alert_kinds"]
    row["notes"] = [note for log_row in summary.get("logs", []) for note in log_row["notes"]]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "real")
    args = parser.parse_args()
    logs = sorted(path for path in args.data.glob("*/*") if path.is_file() and path.name not in SKIP)
    rows = [one_log(log, args.workdir) for log in logs]
    for row in rows:
        print(f"## {row['log']}")
        if "ingest_error" in row:
            print(f"   ingest exit {row['ingest_exit']}: {row['ingest_error']}")
            continue
        print(f"   ingest: {row.get('loaded')} loaded, {row.get('rejected')} rejected, {row.get('skipped')} skipped "
              f"(exit {row['ingest_exit']}); backtest exit {row.get('backtest_exit')}")
        if "backtest_error" in row:
            print(f"   backtest: {row['backtest_error']}")
            continue
        print("   verdicts: " + ", ".join(f"{k} {v}" for k, v in row["verdicts"].items()))  # type: ignore[union-attr]
        severities = row["severities"] or {}
        print("   alerts: " + (", ".join(f"{k} {v}" for k, v in severities.items()) or "none")  # type: ignore[union-attr]
              + ("; " + ", ".join(f"{k} {v}" for k, v in row["alerts"].items()) if row["alerts"] else ""))  # type: ignore[union-attr]
        for note in row["notes"]:  # type: ignore[union-attr]
            print(f"   note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
