"""Byte and row comparison of two backtests' outputs: the same logs through two checkouts of the package.

A check for a change that must not change any output (the columnar path of
issue 14 against the dict path it replaced), not a test: run it once with each
checkout on PYTHONPATH, then compare the two output folders.

    PYTHONPATH=/path/to/old/checkout .venv/bin/python bench/compare_backtest_outputs.py run OUT_OLD
    .venv/bin/python bench/compare_backtest_outputs.py run OUT_NEW
    .venv/bin/python bench/compare_backtest_outputs.py diff OUT_OLD OUT_NEW

``run`` backtests data/sample.jsonl (with ``--compare`` against the candidate
policy) and a simulated log with every fault kind at raised rates, each into its
own folder under OUT. ``diff`` compares every Parquet file byte for byte, the
store's ``decisions`` and ``alerts`` tables row for row (run ids aside), and the
JSON documents less their run ids, times and paths.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "rules" / "multileg_options.yaml"
CANDIDATE = ROOT / "notebooks" / "policies" / "multileg_options_candidate.yaml"
VOLATILE = {"run_id", "id", "started_at", "seconds", "database", "source", "listed_in", "labels", "path"}


def run(out: Path) -> None:
    from safeguards.backtest import run_backtest
    from safeguards.simulator import SimOptions, default_rates, simulate_to

    out.mkdir(parents=True, exist_ok=True)
    faulty = out / "faulty.jsonl"
    rates = {**{name: 0.03 for name in default_rates()}, "duplicate": 0.01, "sequence_gap": 0.005,
             "clock_skew": 0.004, "future_timestamp": 0.004}
    simulate_to(faulty, SimOptions(seed=5, events=60_000, rates=rates))
    run_backtest(REFERENCE, out / "sample", events=ROOT / "data" / "sample.jsonl", compare=CANDIDATE)
    run_backtest(REFERENCE, out / "faulty", events=faulty, batch_size=5_000)


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def diff(old: Path, new: Path) -> int:
    problems = 0
    for path in sorted(old.rglob("*")):
        twin = new / path.relative_to(old)
        if path.suffix == ".parquet":
            same = twin.is_file() and path.read_bytes() == twin.read_bytes()
            print(f"{'same' if same else 'DIFFERENT'} bytes: {path.relative_to(old)}")
            problems += not same
        elif path.suffix == ".json":
            same = twin.is_file() and _scrub(json.loads(path.read_text())) == _scrub(json.loads(twin.read_text()))
            print(f"{'same' if same else 'DIFFERENT'} content: {path.relative_to(old)}")
            problems += not same
        elif path.name == "events.duckdb":
            rows = []
            for db in (path, twin):
                con = duckdb.connect(str(db), read_only=True)
                rows.append([con.execute(f"SELECT * EXCLUDE (run_id) FROM {table} ORDER BY ALL").fetchall()
                             for table in ("decisions", "alerts")])
                con.close()
            same = rows[0] == rows[1]
            print(f"{'same' if same else 'DIFFERENT'} rows ({len(rows[0][0])} decisions, {len(rows[0][1])} alerts): "
                  f"{path.relative_to(old)}")
            problems += not same
    return problems


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(Path(sys.argv[2]))
    else:
        sys.exit(1 if diff(Path(sys.argv[2]), Path(sys.argv[3])) else 0)
