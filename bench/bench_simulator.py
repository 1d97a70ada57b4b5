"""Simulator throughput and memory: events generated and written per second, JSON lines and Parquet.

Run: .venv/bin/python bench/bench_simulator.py [--events N] [--formats jsonl,parquet] [--workers N] [--dir DIR]

Each format is timed end to end, as `safeguards simulate` runs it: generating
the groups with default fault rates, ordering, numbering, writing the log and
its labels. Each run is a fresh process, so its peak RSS is its own (the parent
and, with workers, the largest worker). The issue's target is 10,000,000 events
written in under 60 s. With ``--events`` below that, the 10M time is
*extrapolated* linearly from the measured rate and printed as such. The machine
is shared: the load average is printed beside the figures, and CPU seconds (all
processes of the run) next to wall time. Figures, not a pass/fail test; the
output files are deleted afterwards.

Figures of issue 5 (2 cpus, shared; `--events 10000000`, seed 1; "before" is
the single-process simulator of commit de09d69, run with that commit's bench):

- jsonl, back to back at load 2.3-4.0: before 96.9 s wall, 69.2 s CPU; after
  (2 workers) 73.7 s wall, 90.2 s CPU.
- parquet: before 325 s wall, 99 s CPU, peak RSS 3,899 MB (load ~10); after
  168 s wall, 123 s CPU, peak RSS 494 MB in the parent and 197 MB in the
  largest worker (load ~4).

The workers halve the wall time only on an idle machine: the parallel run
costs ~30% more CPU (windows, numbering in the parent, pipes).

Latest (2026-11-24, session 5; machine otherwise idle, load 1.0-2.0 is the run's own):

- parquet: 41.9-42.7 s wall, 74.9-76.4 s CPU, peak RSS 444 MB (largest worker
  203 MB). Before Parquet chunks were built by polars instead of pyarrow's
  ``Table.from_pylist`` (which walks the events once per column): 56.8 s wall,
  109.1 s CPU.
- jsonl: 43.8-44.3 s wall, 84.7-85.2 s CPU, peak RSS 242-264 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safeguards.simulator import SimOptions, simulate_to

TARGET_EVENTS = 10_000_000
TARGET_SECONDS = 60.0


def run_once(path: Path, events: int, seed: int, workers: int | None) -> dict:
    """One run in this process: events, wall and CPU seconds, bytes, peak RSS."""
    started = time.perf_counter()
    summary, labels = simulate_to(path, SimOptions(seed=seed, events=events), workers=workers)
    seconds = time.perf_counter() - started
    size = path.stat().st_size + labels.stat().st_size
    path.unlink()
    labels.unlink()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "events": summary.events, "seconds": seconds, "size": size,
        "cpu": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        "rss_mb": own.ru_maxrss / 1024, "worker_rss_mb": children.ru_maxrss / 1024,
        "windows": summary.windows, "rebuilt": summary.rebuilt,
    }


def report(format_: str, workers: int | None, figures: dict) -> str:
    events, seconds = figures["events"], figures["seconds"]
    rate = events / seconds
    line = (f"{format_:8} {events:>11,} events in {seconds:7.2f} s wall ({figures['cpu']:.2f} s CPU, "
            f"workers {'auto' if workers is None else workers}) = {rate:>9,.0f} events/s, "
            f"{figures['size'] / events:5.0f} bytes/event, peak RSS {figures['rss_mb']:,.0f} MB "
            f"(largest worker {figures['worker_rss_mb']:,.0f} MB), {figures['windows']} windows, "
            f"{figures['rebuilt']} groups re-built")
    if events >= TARGET_EVENTS:
        verdict = "meets" if seconds < TARGET_SECONDS else "misses"
        line += f"; 10M measured: {verdict} the {TARGET_SECONDS:.0f} s target"
    else:
        estimate = TARGET_EVENTS / rate
        verdict = "would meet" if estimate < TARGET_SECONDS else "would miss"
        line += f"; 10M extrapolated (not measured): {estimate:.0f} s, {verdict} the {TARGET_SECONDS:.0f} s target"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events per run (default 1,000,000)")
    parser.add_argument("--formats", default="jsonl,parquet", help="comma-separated: jsonl, parquet")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: as simulate picks)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary directory)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", metavar="PATH", type=Path, help=argparse.SUPPRESS)  # a single run, figures as JSON
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_once(args.one, args.events, args.seed, args.workers)))
        return
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(dir=args.dir) as where:
        for format_ in args.formats.split(","):
            command = [sys.executable, __file__, "--one", str(Path(where) / f"bench.{format_}"),
                       "--events", str(args.events), "--seed", str(args.seed)]
            if args.workers is not None:
                command += ["--workers", str(args.workers)]
            figures = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            print(report(format_, args.workers, figures), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
