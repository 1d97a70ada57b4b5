"""Ingest throughput (rows/s) for Parquet, CSV, FIX and JSON lines on generated data.

A figure, not a test. Run from the repository root:

    .venv/bin/python bench/bench_ingest.py [--rows 5000000] [--fix-rows 500000] [--jsonl-rows 1000000]
                                           [--repeat 3] [--formats parquet,csv,fix,jsonl]

Each format's file is generated first (not timed), then ingested ``--repeat`` times,
each into a fresh database; the time covers digesting, staging, checking and storing
every row, exactly as `safeguards ingest` does. Printed: the median wall-clock rate
and the median rate per CPU-second of the whole process (all DuckDB threads), with the
load average, because the machine is shared and wall time moves with its load. For
Parquet, DuckDB's own ``CREATE TABLE AS SELECT * FROM read_parquet(...)`` into a fresh
database is measured the same way: the floor of storing those rows in DuckDB at all.

Figures (2026-11-24, 2 CPUs; medians, CPU-s being the figure the machine's load
moves least). Session 6, DuckDB 2.0.1, JSON lines (every field of a fill filled in):

    jsonl 1M     376 MB: 5.49 s wall = 182k rows/s, 9.8 CPU-s (another run: 6.38 s).
                 Before this session's changes (CR and blank-line tests that copied
                 every line): 8.23 s = 122k rows/s, 13.9 CPU-s.
    jsonl 2M     757 MB, read whole: 10.45 s = 191k rows/s; the same file read in
                 256 MiB pieces: 12.15 s = 165k rows/s, hence pieces only above 1 GiB
                 (`safeguards ingest` of a 4.4 GB, 20M-line log: 101.6 s, 17.2 GB peak
                 RSS; it could not be read at all before).

Session 5, DuckDB 2.0.0, no other work running, three runs within half an hour:

    parquet 5M   ours 2.33 s = 2.14M rows/s (4.41 CPU-s); CTAS 2.34 s = 2.14M
                 ours 2.27 s = 2.21M rows/s (4.33 CPU-s); CTAS 2.29 s = 2.18M
                 ours 2.33 s = 2.14M rows/s (4.45 CPU-s); CTAS 2.38 s = 2.10M
                 A run's first ingest is the slowest (2.55-2.61 s): the file was
                 written just before. `safeguards ingest` of the same file reports
                 2.30-2.41 s for the load (2.07-2.17M rows/s), 3.2 s in all with
                 start-up and the closing summary.
                 DuckDB 1.5.6 copies the same file in 7.3-7.9 CPU-s (2.0: 4.7-5.0),
                 hence duckdb>=2.0. With 2.0.1: ours 2.27 s = 2.20M rows/s (4.36 CPU-s).
    csv 5M       8.65 s wall = 578k rows/s, 16.1 CPU-s (DuckDB 2.0.1). Before the
                 file was read on every core and numbered afterwards: 11.54 s = 433k,
                 16.2 CPU-s.
    fix 500k     11.04 s wall = 45.3k rows/s, 12.1 CPU-s.

Session 4, no other work running (the load shown is the bench's own),
schema version 6 (ENUM source/type/side/role):

    parquet 5M   ours 2.31 s wall = 2.17M rows/s, 4.38 CPU-s (runs 2.31, 2.26, 2.34, 2.52, 2.28)
                 DuckDB's CTAS in the same run 2.33 s = 2.14M rows/s, 4.46 CPU-s
                 a later run: ours 2.55 s = 1.96M rows/s, 4.70 CPU-s; CTAS 2.58 s = 1.94M, 4.93 CPU-s
                 (before ENUM: 1.85-2.06M rows/s, 4.59-4.93 CPU-s)
    csv 5M       13.70 s wall = 365k rows/s, 19.4 CPU-s
    fix 500k     10.89 s wall = 45.9k rows/s, 12.1 CPU-s

This file is a broker's execution export: 17 columns. The simulator's mixed log
(intents, quotes and broker events: all 27 columns, far more distinct ids) stores at
about a third of that rate: its 10M-event Parquet (242 MB) took 13.8 s = 726k rows/s
(25.8 CPU-s) through ``ingest_file``, and 12.4 s = 808k rows/s (23.2 CPU-s) through
DuckDB's own copy.

The same CPU work took 4.38 CPU-s in one run and 4.70 in the next: the machine's own
speed moves about 7% between runs, and DuckDB's plain copy of the file moves with it.

Earlier rounds (session 2, load 2.6-2.9): parquet 6.6-7.3 CPU-s before that round's
work, 4.81 after; csv 20.6 CPU-s; fix 13.7 CPU-s.

Where the Parquet time goes (perf, DuckDB's profiler, and one column at a time):
storing the rows, not reading or checking them. Reading the file is 0.7 CPU-s, the
checks 0.1-0.15, the file digest 0.03. DuckDB spends 0.1-0.15 CPU-s per 5M rows on
each column of NULLs and 0.3-0.4 on a column of ``'default'`` strings: the ten
columns this file lacks cost about 1.5 CPU-s until the store kept, per ingest, only
the columns the file has (``events`` is a view over one table per shape, schema
version 5). Dictionary+FSST encoding of the unique ``event_id`` cost 0.5-1 CPU-s
more than zstd (schema version 4; the database grows 1.17x on this file, not at all
on simulator output). Zstd for ``order_id``/``broker_order_id`` too would save
another 0.2-0.5 CPU-s here but costs 1.18x on simulator output (orders repeat, the
dictionary wins) for no gain there, so it is not done. Closed sets stored as ENUM
(schema version 6) save 0.3-0.5 CPU-s on this file (``source``, ``type``, ``side``). Settings tried without a
CPU gain: ``preserve_insertion_order = false``, ``disabled_compression_methods``,
``force_compression``, NOT NULL columns, larger row groups (worse), older storage
versions (worse), ``SET threads`` above the core count (worse). Reading
the file through pyarrow (a table or a dataset scanner registered with DuckDB)
costs 1-2.5 CPU-s more than DuckDB's own reader.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl

from safeguards.adapters import AdapterOptions, stager
from safeguards.adapters.fix.framing import frame as fix_frame
from safeguards.store.database import open_store
from safeguards.store.ingest import ingest_file

T0 = 1_771_684_200_000_000_000
BROKER_TYPES = ["new", "partial_fill", "fill", "canceled"]


def canonical_events(n: int) -> pl.DataFrame:
    """n broker events over n/4 orders, every field of a fill filled in."""
    i = pl.int_range(0, n, eager=True)
    step = i % 4
    return pl.DataFrame({
        "seq": i + 1,
        "source": pl.repeat("broker", n, eager=True),
        "type": step.replace_strict(list(range(4)), BROKER_TYPES, return_dtype=pl.Utf8),
        "event_id": "E" + i.cast(pl.Utf8),
        "order_id": "O" + (i // 4).cast(pl.Utf8),
        "broker_order_id": "B" + (i // 4).cast(pl.Utf8),
        "symbol": pl.repeat("SPY 260320C00600000", n, eager=True),
        "side": pl.repeat("buy", n, eager=True),
        "qty": pl.repeat(10.0, n, eager=True),
        "limit_px": pl.repeat(1.25, n, eager=True),
        "last_qty": pl.repeat(5.0, n, eager=True),
        "last_px": pl.repeat(1.25, n, eager=True),
        "cum_qty": (step.clip(0, 2) * 5).cast(pl.Float64),
        "leaves_qty": (10 - step.clip(0, 2) * 5).cast(pl.Float64),
        "broker_ts": pl.from_epoch(T0 + i * 1_000_000, time_unit="ns").dt.replace_time_zone("UTC"),
        "recv_ts": pl.from_epoch(T0 + i * 1_000_000 + 250_000, time_unit="ns").dt.replace_time_zone("UTC"),
        "broker_seq": i + 1,
        "poss_dup": pl.repeat(False, n, eager=True),
    })


def fix_messages(n: int) -> str:
    """n ExecutionReports (4.4 style) as a QuickFIX message log, one per line with the log time."""
    i = pl.int_range(0, n, eager=True)
    step = i % 4
    exec_type = step.replace_strict([0, 1, 2, 3], ["0", "F", "F", "4"], return_dtype=pl.Utf8)
    status = step.replace_strict([0, 1, 2, 3], ["0", "1", "2", "4"], return_dtype=pl.Utf8)
    cum = (step.clip(0, 2) * 5).cast(pl.Utf8)
    leaves = (10 - step.clip(0, 2) * 5).cast(pl.Utf8)
    seconds = (i // 1000).cast(pl.Int64)
    stamp = (pl.lit("20260221-14:") + (seconds // 60 % 60).cast(pl.Utf8).str.zfill(2) + ":"
             + (seconds % 60).cast(pl.Utf8).str.zfill(2) + "." + (i % 1000).cast(pl.Utf8).str.zfill(3))
    frame = pl.DataFrame({"i": i, "exec_type": exec_type, "status": status, "cum": cum, "leaves": leaves})
    log_time = stamp + "417"  # the recorder's clock, microseconds after SendingTime
    bodies = frame.select(
        ("35=8\x0134=" + (pl.col("i") + 1).cast(pl.Utf8)
         + "\x0149=BRK\x0152=" + stamp + "\x0156=US\x0111=O" + (pl.col("i") // 4).cast(pl.Utf8)
         + "\x0117=E" + pl.col("i").cast(pl.Utf8) + "\x0137=B" + (pl.col("i") // 4).cast(pl.Utf8)
         + "\x01150=" + pl.col("exec_type") + "\x0139=" + pl.col("status")
         + "\x0155=SPY\x0154=1\x0138=10\x0144=1.25\x0132=5\x0131=1.25\x0114=" + pl.col("cum")
         + "\x01151=" + pl.col("leaves") + "\x0160=" + stamp + "\x01").alias("body"), log_time.alias("time")
    )
    return "".join(f"{time} : {fix_frame(body)}\n" for body, time in bodies.iter_rows())


def timed(run: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) that ``run`` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def fresh_store(workdir: Path, name: str) -> duckdb.DuckDBPyConnection:
    db = workdir / f"bench-{name}.duckdb"
    db.unlink(missing_ok=True)
    Path(f"{db}.wal").unlink(missing_ok=True)
    return open_store(db)


def ingest_once(path: Path, format: str, rows: int, workdir: Path) -> tuple[float, float]:
    con = fresh_store(workdir, format)
    results = []
    seconds = timed(lambda: results.append(ingest_file(con, path, format, stager(format, AdapterOptions()))))
    con.close()
    (result,) = results
    assert result.loaded == rows and result.rejected == 0, result
    return seconds


def duckdb_ctas_once(path: Path, workdir: Path) -> tuple[float, float]:
    con = fresh_store(workdir, "ctas")
    seconds = timed(lambda: con.execute(f"CREATE TABLE copied AS SELECT * FROM read_parquet('{path}')"))
    con.close()
    return seconds


def report(label: str, rows: int, path: Path, runs: list[tuple[float, float]]) -> None:
    wall = statistics.median(w for w, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    walls = ", ".join(f"{w:.2f}" for w, _ in runs)
    print(f"{label:14} {rows:>11,} rows {path.stat().st_size / 1e6:8.1f} MB  median {wall:6.2f} s wall "
          f"{rows / wall:>11,.0f} rows/s  {cpu:6.2f} CPU-s {rows / cpu:>11,.0f} rows/CPU-s  "
          f"(runs {walls} s; load {load})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows for Parquet and CSV")
    parser.add_argument("--fix-rows", type=int, default=500_000, help="messages for FIX")
    parser.add_argument("--jsonl-rows", type=int, default=1_000_000, help="lines for JSON lines")
    parser.add_argument("--repeat", type=int, default=3, help="runs per format (the median is printed)")
    parser.add_argument("--formats", default="parquet,csv,fix,jsonl",
                        help="comma-separated: parquet, csv, fix, jsonl")
    args = parser.parse_args()
    formats = set(args.formats.split(","))
    print(f"{os.cpu_count()} CPUs, DuckDB {duckdb.__version__}, polars {pl.__version__}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        events = canonical_events(args.rows)
        if "parquet" in formats:
            parquet = workdir / "events.parquet"
            events.write_parquet(parquet)
            ours, theirs = [], []
            for _ in range(args.repeat):  # alternated, so both see the same load
                ours.append(ingest_once(parquet, "parquet", args.rows, workdir))
                theirs.append(duckdb_ctas_once(parquet, workdir))
            report("parquet", args.rows, parquet, ours)
            report("(duckdb ctas)", args.rows, parquet, theirs)
        if "csv" in formats:
            csv = workdir / "events.csv"
            events.with_columns(pl.col("broker_ts", "recv_ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.9fZ")).write_csv(csv)
            report("csv", args.rows, csv, [ingest_once(csv, "csv", args.rows, workdir) for _ in range(args.repeat)])
        if "jsonl" in formats:
            lines, n = workdir / "events.jsonl", min(args.jsonl_rows, args.rows)
            events.head(n).with_columns(
                pl.col("broker_ts", "recv_ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.9fZ")).write_ndjson(lines)
            report("jsonl", n, lines, [ingest_once(lines, "jsonl", n, workdir) for _ in range(args.repeat)])
        del events
        if "fix" in formats:
            fix = workdir / "events.fix.log"
            fix.write_text(fix_messages(args.fix_rows), encoding="latin-1")
            report("fix", args.fix_rows, fix,
                   [ingest_once(fix, "fix", args.fix_rows, workdir) for _ in range(args.repeat)])


if __name__ == "__main__":
    main()
