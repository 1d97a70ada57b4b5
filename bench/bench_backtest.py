"""End-to-end backtest throughput and peak memory, read from DuckDB, beside DuckDB's own copy of the events to Parquet.

A figure, not a test. Run from the repository root:

    .venv/bin/python bench/bench_backtest.py [--sizes 1000000,10000000] [--workdir bench/out]

For each size a simulated log (``safeguards simulate --seed 1 --events N``, Parquet)
is ingested into its own DuckDB store (both kept in the workdir and reused; not
timed). Each backtest then runs in a fresh child process, so its peak RSS is its
own: read from DuckDB, replay through the production engine's columnar path
(Arrow batches in, decision and alert columns out), write decisions/alerts
Parquet and store tables, summary and metrics. In the same run, and on the same
store, a child process times ``COPY events TO 'x.parquet'`` (DuckDB's own
export of the table the backtest reads: the floor a store -> Parquet pipeline
is measured against). A second backtest per size swaps the engine for a
stateless stub (the backtest's own pipeline: read, write, store, summarize).
Stage figures (same child-process method) say where the time goes: DuckDB to
Arrow, the core's columnar decide on batches in memory, decision columns to
the stored schema, Arrow to Parquet; by wall clock and by CPU time, as the
machine is shared. The run folders are ``run<N>`` and ``run<N>-stub``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from safeguards.adapters import AdapterOptions, stager
from safeguards.simulator import SimOptions, simulate_to
from safeguards.store import ingest_file, open_store

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "rules" / "multileg_options.yaml"

# Peak RSS of this process's own memory: VmHWM is reset by exec, unlike getrusage's
# ru_maxrss, which a child inherits from the parent's high-water mark (the parent may have
# just simulated the log).
HWM = """
def peak_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
"""

BACKTEST = """
import json, sys, time
{HWM}from safeguards.backtest import run_backtest
started, cpu = time.perf_counter(), time.process_time()
result = run_backtest(sys.argv[1], sys.argv[2], db=sys.argv[3])
print(json.dumps({"events": result.summary["events"], "alerts": result.summary["alerts"],
                  "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
                  "peak_rss_mib": peak_mib()}))
""".replace("{HWM}", HWM)

COPY = """
import json, sys, time
{HWM}import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
started, cpu = time.perf_counter(), time.process_time()
con.execute(f"COPY events TO '{sys.argv[2]}' (FORMAT PARQUET)")
events = con.execute("SELECT count(*) FROM events").fetchone()[0]
print(json.dumps({"events": events, "alerts": 0, "seconds": time.perf_counter() - started,
                  "cpu_seconds": time.process_time() - cpu, "peak_rss_mib": peak_mib()}))
""".replace("{HWM}", HWM)

# The same run with the engine replaced by one that accepts everything and keeps no state:
# isolates the backtest's own pipeline (read, write, store, summarize) to show its memory is flat.
PIPELINE = """
import json, sys, time
{HWM}import pyarrow as pa
import pyarrow.compute as pc
import safeguards.backtest.replay as replay
from safeguards.core import Engine

class AcceptAll:
    def __init__(self, policy):
        self.identity, self.counts, self.alert_counts, self.arrivals = policy.identity, {"accept": 0}, {}, 0
        self.alerts = Engine(policy).decide_columns(pa.record_batch({"type": pa.array([], pa.string())}), {})[1]
    def decide_columns(self, events, logs):
        rows = events.num_rows
        numbers = pa.array(range(self.arrivals + 1, self.arrivals + 1 + rows), pa.int64())
        self.counts["accept"] += rows
        self.arrivals += rows
        outcome = lambda text: pa.DictionaryArray.from_arrays(pa.nulls(rows, pa.int32()).fill_null(0), pa.array([text]))
        decided = pa.record_batch({"seq": pc.coalesce(events.column("seq"), numbers), "event_id": events.column("event_id"),
                                   "order_id": events.column("order_id"), "group_id": events.column("group_id"),
                                   "verdict": outcome("accept"), "guard": outcome("engine"), "rule": outcome("stub"),
                                   "reason": outcome("stub")})
        return decided, self.alerts

replay.Engine = AcceptAll
started, cpu = time.perf_counter(), time.process_time()
result = replay.run_backtest(sys.argv[1], sys.argv[2], db=sys.argv[3])
print(json.dumps({"events": result.summary["events"], "alerts": 0, "seconds": time.perf_counter() - started,
                  "cpu_seconds": time.process_time() - cpu, "peak_rss_mib": peak_mib()}))
""".replace("{HWM}", HWM)

STAGES = """
import json, sys, time
from pathlib import Path
import pyarrow.parquet as pq
from safeguards.backtest.replay import rare_collections
from safeguards.backtest.sink import DECISIONS_SCHEMA, decisions_batch
from safeguards.backtest.source import BATCH, from_database
from safeguards.core import Engine
from safeguards.store.reader import arrow_batches

def clock():
    return time.perf_counter(), time.process_time()

def rate(n, since):
    wall, cpu = clock()
    return {"wall": n / (wall - since[0]), "cpu": n / (cpu - since[1])}

source = from_database(sys.argv[3])
logs = {ingest_id: session.traits for ingest_id, session in source.sessions().items()}
figures, n, kept = {}, 0, []
with rare_collections():  # as the backtest runs
    started = clock()
    for batch in arrow_batches(source.con.cursor(), size=BATCH):
        n += batch.num_rows
        if len(kept) < 64:
            kept.append(batch)
    figures["DuckDB -> Arrow"] = rate(n, started)
    source.close()
    sample = sum(batch.num_rows for batch in kept)
    engine = Engine(sys.argv[1])
    started = clock()
    decided = [engine.decide_columns(batch, logs)[0] for batch in kept]
    figures["core, decide_columns"] = rate(sample, started)
    started = clock()
    tables = [decisions_batch(batch, columns, engine.identity) for batch, columns in zip(kept, decided)]
    figures["decision columns -> stored schema"] = rate(sample, started)
Path(sys.argv[2]).mkdir(parents=True, exist_ok=True)
started = clock()
with pq.ParquetWriter(Path(sys.argv[2]) / "decisions.parquet", DECISIONS_SCHEMA, compression="zstd") as writer:
    for table in tables:
        writer.write_batch(table)
figures["Arrow -> Parquet (zstd)"] = rate(sample, started)
print(json.dumps({"events": n, "sample": sample, "figures": figures}))
"""


def prepare(workdir: Path, size: int) -> Path:
    """The simulated log of ``size`` events ingested into its own store (made once, reused)."""
    db = workdir / f"sim{size}.duckdb"
    if db.exists():
        return db
    log = workdir / f"sim{size}.parquet"
    if not log.exists():
        started = time.perf_counter()
        simulate_to(log, SimOptions(seed=1, events=size))
        print(f"  simulated {log.name} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    con = open_store(db)
    started = time.perf_counter()
    ingest_file(con, log, "parquet", stager("parquet", AdapterOptions()), AdapterOptions().describe())
    con.close()
    print(f"  ingested into {db.name} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return db


def child(script: str, *args: str) -> dict:
    """Run ``script`` in a fresh interpreter (so its peak memory is its own); its JSON answer."""
    done = subprocess.run([sys.executable, "-c", script, *args], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,3000000", help="comma-separated event counts, increasing")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage figures")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the stub-engine pipeline runs")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(f"load {os.getloadavg()}, python {platform.python_version()}, {os.cpu_count()} cores")
    print(f"{'run':<24} {'events':>12} {'seconds':>8} {'events/s':>10} {'CPU s':>7} {'peak RSS MiB':>13} {'alerts':>8}")
    for size in sizes:
        db = prepare(args.workdir, size)
        runs = [("backtest", BACKTEST, (str(POLICY), str(args.workdir / f"run{size}"), str(db))),
                ("COPY events TO parquet", COPY, (str(db), str(args.workdir / f"copy{size}.parquet")))]
        if not args.no_pipeline:
            runs.append(("pipeline, stub engine", PIPELINE, (str(POLICY), str(args.workdir / f"run{size}-stub"), str(db))))
        seconds = {}
        for label, script, argv in runs:
            answer = child(script, *argv)
            seconds[label] = answer["seconds"]
            print(f"{label:<24} {answer['events']:>12,} {answer['seconds']:>8.1f} "
                  f"{answer['events'] / answer['seconds']:>10,.0f} {answer['cpu_seconds']:>7.1f} {answer['peak_rss_mib']:>13,.0f} "
                  f"{answer['alerts']:>8,}", flush=True)
        print(f"  backtest / COPY: {seconds['backtest'] / seconds['COPY events TO parquet']:.2f}x; load {os.getloadavg()}")
    if not args.no_stages:
        stages = child(STAGES, str(POLICY), str(args.workdir / "stages"), str(prepare(args.workdir, sizes[0])))
        print(f"stages, events/s by wall clock and by CPU time (all threads); reads over all "
              f"{stages['events']:,} events, the rest over the first {stages['sample']:,} in memory:")
        for label, figure in stages["figures"].items():
            print(f"  {label:<26} {figure['wall']:>12,.0f} wall {figure['cpu']:>12,.0f} cpu")


if __name__ == "__main__":
    main()
