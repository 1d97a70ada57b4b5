"""Which durable store should the journal use? Measure, then choose (issue 4).

For each candidate: the latency of one durable commit of one record (p50, p99)
and the throughput with group commit (N records per fsync), on this machine's
disk. Records are ~400-byte canonical events as JSON text.

    .venv/bin/python bench/bench_journal_store.py [--commits 2000] [--group 64]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

RECORD = json.dumps({
    "seq": 1, "source": "broker", "type": "partial_fill", "event_id": "EXEC-000000001", "account": "default",
    "order_id": "ORD-0000001", "broker_order_id": "B-1", "group_id": "G-1", "leg": "short_put", "last_qty": 3,
    "last_px": 1.25, "cum_qty": 3, "leaves_qty": 7, "broker_ts": 1771684200123456000, "recv_ts": 1771684200124456000,
    "broker_seq": 101, "symbol": "SPY 260320P00500000",
})


class AppendLog:
    name = "append-only log + fdatasync"

    def __init__(self, folder: Path):
        self.handle = open(folder / "journal.jsonl", "ab", buffering=0)

    def commit(self, records: list[str]) -> None:
        self.handle.write("".join(r + "\n" for r in records).encode())
        os.fdatasync(self.handle.fileno())


class SqliteWal:
    name = "SQLite WAL, synchronous=FULL"

    def __init__(self, folder: Path):
        self.db = sqlite3.connect(folder / "journal.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE j (seq INTEGER PRIMARY KEY, record TEXT)")

    def commit(self, records: list[str]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO j (record) VALUES (?)", [(r,) for r in records])
        self.db.execute("COMMIT")


class DuckDbStore:
    name = "DuckDB table"

    def __init__(self, folder: Path):
        self.db = duckdb.connect(str(folder / "journal.duckdb"))
        self.db.execute("CREATE TABLE j (record VARCHAR)")

    def commit(self, records: list[str]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO j VALUES (?)", [(r,) for r in records])
        self.db.execute("COMMIT")


def measure(store_class, commits: int, group: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", ".")) as folder:
        store = store_class(Path(folder))
        latencies = []
        for _ in range(commits):
            start = time.perf_counter()
            store.commit([RECORD])
            latencies.append(time.perf_counter() - start)
        batch = [RECORD] * group
        rounds = max(1, commits // 4)
        start = time.perf_counter()
        for _ in range(rounds):
            store.commit(batch)
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "p50_us": statistics.median(latencies) * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99) - 1] * 1e6,
        "single_per_s": commits / sum(latencies),
        "grouped_records_per_s": rounds * group / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--group", type=int, default=64)
    args = parser.parse_args()
    print(f"{args.commits} single-record durable commits, then group commits of {args.group}, disk under {os.getcwd()}")
    print(f"{'store':32} {'p50 µs':>9} {'p99 µs':>9} {'commits/s':>10} {'grouped rec/s':>14}")
    for store_class in (AppendLog, SqliteWal, DuckDbStore):
        r = measure(store_class, args.commits, args.group)
        print(f"{store_class.name:32} {r['p50_us']:9.0f} {r['p99_us']:9.0f} {r['single_per_s']:10.0f} {r['grouped_records_per_s']:14.0f}")


if __name__ == "__main__":
    main()
