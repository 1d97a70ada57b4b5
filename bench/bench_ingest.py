"""Ingest throughput (rows/s) for Parquet, CSV and FIX on generated data.

A figure, not a test. Run from the repository root:

    .venv/bin/python bench/bench_ingest.py [--rows 5000000] [--fix-rows 500000]

Each format's file is generated first (not timed), then ingested into a fresh
database; the time covers digesting, staging, checking and storing every row,
exactly as `safeguards ingest` does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import polars as pl

from safeguards.adapters import AdapterOptions, stager
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
    lines = frame.select(
        (log_time + " : 8=FIX.4.4\x019=200\x0135=8\x0134=" + (pl.col("i") + 1).cast(pl.Utf8)
         + "\x0149=BRK\x0152=" + stamp + "\x0156=US\x0111=O" + (pl.col("i") // 4).cast(pl.Utf8)
         + "\x0117=E" + pl.col("i").cast(pl.Utf8) + "\x0137=B" + (pl.col("i") // 4).cast(pl.Utf8)
         + "\x01150=" + pl.col("exec_type") + "\x0139=" + pl.col("status")
         + "\x0155=SPY\x0154=1\x0138=10\x0144=1.25\x0132=5\x0131=1.25\x0114=" + pl.col("cum")
         + "\x01151=" + pl.col("leaves") + "\x0160=" + stamp + "\x0110=000\x01").alias("line")
    )["line"]
    return "\n".join(lines.to_list()) + "\n"


def measure(path: Path, format: str, rows: int, workdir: Path) -> float:
    db = workdir / f"bench-{format}.duckdb"
    db.unlink(missing_ok=True)
    con = open_store(db)
    options = AdapterOptions()
    started = time.perf_counter()
    result = ingest_file(con, path, format, stager(format, options))
    seconds = time.perf_counter() - started
    con.close()
    assert result.loaded == rows and result.rejected == 0, result
    rate = rows / seconds
    size = path.stat().st_size / 1e6
    print(f"{format:8} {rows:>11,} rows  {size:8.1f} MB  {seconds:7.2f} s  {rate:>12,.0f} rows/s", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows for Parquet and CSV")
    parser.add_argument("--fix-rows", type=int, default=500_000, help="messages for FIX")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        events = canonical_events(args.rows)
        parquet = workdir / "events.parquet"
        events.write_parquet(parquet)
        measure(parquet, "parquet", args.rows, workdir)
        csv = workdir / "events.csv"
        events.with_columns(pl.col("broker_ts", "recv_ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.9fZ")).write_csv(csv)
        measure(csv, "csv", args.rows, workdir)
        del events
        fix = workdir / "events.fix.log"
        fix.write_text(fix_messages(args.fix_rows), encoding="latin-1")
        measure(fix, "fix", args.fix_rows, workdir)


if __name__ == "__main__":
    main()
