"""Simulator throughput: events generated and written per second, JSON lines and Parquet.

Run: .venv/bin/python bench/bench_simulator.py [--events N] [--formats jsonl,parquet] [--dir DIR]

Each format is timed end to end, as `safeguards simulate` runs it: generating
the groups with default fault rates, ordering, numbering, writing the log and
its labels. The issue's target is 10,000,000 events written in under 60 s.
With ``--events`` below that, the 10M time is *extrapolated* linearly from the
measured rate and printed as such. Figures, not a pass/fail test; the output
files are deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from safeguards.simulator import SimOptions, simulate_to

TARGET_EVENTS = 10_000_000
TARGET_SECONDS = 60.0


def run_once(path: Path, events: int, seed: int) -> tuple[int, float, float, int]:
    """Events written, wall seconds, CPU seconds of this process, bytes of log and labels."""
    started, cpu = time.perf_counter(), time.process_time()
    summary, labels = simulate_to(path, SimOptions(seed=seed, events=events))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    size = path.stat().st_size + labels.stat().st_size
    path.unlink()
    labels.unlink()
    return summary.events, seconds, cpu, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events per run (default 1,000,000)")
    parser.add_argument("--formats", default="jsonl,parquet", help="comma-separated: jsonl, parquet")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary directory)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory(dir=args.dir) as where:
        for format_ in args.formats.split(","):
            path = Path(where) / f"bench.{format_}"
            events, seconds, cpu, size = run_once(path, args.events, args.seed)
            rate = events / seconds
            line = (f"{format_:8} {events:>11,} events in {seconds:7.2f} s wall ({cpu:.2f} s CPU) = "
                    f"{rate:>9,.0f} events/s, {size / events:5.0f} bytes/event")
            if events >= TARGET_EVENTS:
                verdict = "meets" if seconds < TARGET_SECONDS else "misses"
                line += f"; 10M measured: {verdict} the {TARGET_SECONDS:.0f} s target"
            else:
                estimate = TARGET_EVENTS / rate
                verdict = "would meet" if estimate < TARGET_SECONDS else "would miss"
                line += f"; 10M extrapolated (not measured): {estimate:.0f} s, {verdict} the {TARGET_SECONDS:.0f} s target"
            print(line, flush=True)


if __name__ == "__main__":
    main()
