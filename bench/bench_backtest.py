"""End-to-end backtest throughput and peak memory, read from DuckDB (issue 6).

A figure, not a test. Run from the repository root:

    .venv/bin/python bench/bench_backtest.py [--sizes 1000000,3000000] [--workdir bench/out]

For each size a simulated log (``safeguards simulate --seed 1 --events N``, Parquet)
is ingested into its own DuckDB store (both kept in the workdir and reused; not
timed). Each backtest then runs in a fresh child process, so its peak RSS is its
own: read from DuckDB, replay through the production engine, write
decisions/alerts Parquet and store tables, summary and metrics. Flat memory means
peak RSS barely moves as N triples. Stage figures beside it (same child-process
method) say where the time goes: DuckDB to Arrow, Arrow to the engine's dicts,
the engine alone on events already in memory (``decide_stored``, as the
backtest calls it, with CPython's default garbage collection and with the
backtest's rarer one, under which the other stages run too; ``process_stored``,
a dict per decision; and ``process``, which screens each event again),
decisions to Arrow, Arrow to Parquet; by wall clock and by CPU time, as the
machine is shared. A second run per size swaps the engine for a stateless stub:
the backtest's own pipeline, whose memory must not grow with N (the engine's
order book does, by design of book.py). The run folders are ``run<N>`` (the real
backtest's outputs, kept for inspection) and ``run<N>-stub``.
"""

from __future__ import annotations

import argparse
import json
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

# The same run with the engine replaced by one that accepts everything and keeps no state:
# isolates the backtest's own pipeline (read, write, store, summarize) to show its memory is flat.
PIPELINE = """
import json, sys, time
{HWM}import safeguards.backtest.replay as replay

class AcceptAll:
    OUTCOME = ("accept", "engine", None, "stub")
    def __init__(self, policy):
        self.identity, self.counts, self.alert_counts, self.arrivals = policy.identity, {"accept": 0}, {}, 0
    def decide_stored(self, events, fields):
        self.counts["accept"] += len(events)
        self.arrivals += len(events)
        return [self.OUTCOME] * len(events), [e.get("group_id") for e in events]
    def pop_alerts(self):
        return []
    def use_session(self, key):
        pass

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
from safeguards.engine import Engine
from safeguards.store.reader import arrow_batches, decode

def clock():
    return time.perf_counter(), time.process_time()

def rate(n, since):
    wall, cpu = clock()
    return {"wall": n / (wall - since[0]), "cpu": n / (cpu - since[1])}

source = from_database(sys.argv[3])
figures, n, kept = {}, 0, []
with rare_collections():  # as the backtest runs
    started = clock()
    for batch in arrow_batches(source.con.cursor(), size=BATCH):
        n += batch.num_rows
    figures["DuckDB -> Arrow"] = rate(n, started)
    started = clock()
    for batch in arrow_batches(source.con.cursor(), size=BATCH):
        decoded = decode(batch)
        if len(kept) < 16:
            kept.append(decoded)
    figures["DuckDB -> Arrow -> dicts"] = rate(n, started)
source.close()
sample = sum(len(batch) for batch in kept)
engine = Engine(sys.argv[1])
started = clock()
decided = [engine.decide_stored(batch.events, batch.fields) for batch in kept]
figures["engine alone, default GC"] = rate(sample, started)
with rare_collections():
    engine = Engine(sys.argv[1])
    started = clock()
    decided = [engine.process_batch(batch.events)[0] for batch in kept]
    figures["engine, screening again"] = rate(sample, started)
    engine = Engine(sys.argv[1])
    started = clock()
    decided = [list(map(engine.process_stored, batch.events, batch.fields)) for batch in kept]
    figures["engine alone, process_stored"] = rate(sample, started)
    engine = Engine(sys.argv[1])
    started = clock()
    decided = []
    for batch in kept:
        arrivals = engine.arrivals
        decided.append((*engine.decide_stored(batch.events, batch.fields), arrivals))
    figures["engine alone"] = rate(sample, started)
    started = clock()
    tables = [decisions_batch(batch, outcomes, groups, engine.identity, arrivals)
              for batch, (outcomes, groups, arrivals) in zip(kept, decided)]
    figures["decisions -> Arrow"] = rate(sample, started)
Path(sys.argv[2]).mkdir(parents=True, exist_ok=True)
started = clock()
with pq.ParquetWriter(Path(sys.argv[2]) / "decisions.parquet", DECISIONS_SCHEMA, compression="zstd") as writer:
    for table in tables:
        writer.write_batch(table)
figures["Arrow -> Parquet"] = rate(sample, started)
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
    print(f"{'run':<24} {'events':>12} {'seconds':>8} {'events/s':>10} {'CPU s':>7} {'peak RSS MiB':>13} {'alerts':>8}")
    for size in sizes:
        db = prepare(args.workdir, size)
        runs = [("backtest", BACKTEST, "")] + ([] if args.no_pipeline else [("pipeline, stub engine", PIPELINE, "-stub")])
        for label, script, suffix in runs:
            answer = child(script, str(POLICY), str(args.workdir / f"run{size}{suffix}"), str(db))
            print(f"{label:<24} {answer['events']:>12,} {answer['seconds']:>8.1f} "
                  f"{answer['events'] / answer['seconds']:>10,.0f} {answer['cpu_seconds']:>7.1f} {answer['peak_rss_mib']:>13,.0f} "
                  f"{answer['alerts']:>8,}", flush=True)
    if not args.no_stages:
        stages = child(STAGES, str(POLICY), str(args.workdir / "stages"), str(prepare(args.workdir, sizes[0])))
        print(f"stages, events/s by wall clock and by CPU time (all threads); reads over all "
              f"{stages['events']:,} events, the rest over the first {stages['sample']:,} in memory:")
        for label, figure in stages["figures"].items():
            print(f"  {label:<26} {figure['wall']:>12,.0f} wall {figure['cpu']:>12,.0f} cpu")


if __name__ == "__main__":
    main()
