"""`safeguards sweep --policy P --db DB --vary KEY=V1,V2 ... --out DIR`: a grid of policy variants, backtested on Ray."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from .progress import wants_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="backtest a grid of policy variants (--vary KEY=V1,V2) in parallel on Ray; report the best that passes",
        description="Each combination of the --vary values is the policy file with those values set, compiled "
                    "(its own hash and identity) and backtested on --db (and on a clean --baseline store), in "
                    "parallel: on a local Ray runtime started for the sweep, on a Ray cluster (--ray-address or "
                    "RAY_ADDRESS; its workers must reach the stores and DIR at the same paths), or in this process "
                    "(--workers 0). DIR gets sweep.json and per variant <hash>/policy.yaml and a run folder per "
                    "store (promotable evidence). Run again, a sweep does only the backtests not yet done. "
                    "Exit 1 when a backtest failed or no variant passes every gate.",
    )
    parser.add_argument("--policy", required=True, type=Path, metavar="P", help="the policy's YAML file")
    parser.add_argument("--db", required=True, type=Path, metavar="DB", help="an event store made by `safeguards ingest`")
    parser.add_argument("--labels", type=Path, metavar="LABELS", help="simulator labels of the store's faults, to score recall")
    parser.add_argument("--baseline", type=Path, metavar="CLEAN_DB",
                        help="a store of clean history (no faults): false and critical alerts, the clean gates")
    parser.add_argument("--baseline-labels", type=Path, metavar="LABELS",
                        help="the baseline's labels (an empty file says it is clean)")
    parser.add_argument("--vary", action="append", required=True, metavar="KEY=V1,V2,...",
                        help="a dotted key of the policy YAML and the values it takes, e.g. idempotency.window=12h,24h "
                             "(repeatable: the grid is every combination)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="sweep folder to write (or resume)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="Ray workers of the local runtime (default: the core count); 0: in this process, no Ray")
    parser.add_argument("--ray-address", metavar="ADDR", help="a Ray cluster to run on (default: $RAY_ADDRESS)")
    parser.add_argument("--group", type=int, metavar="N",
                        help="variants a task backtests in one pass over a store, at most (default: each store's "
                             "variants split evenly over the workers, at most 8 a task; 1: a pass per variant)")
    parser.set_defaults(run=run)


class SweepProgressLine:
    """One line on stderr for the whole sweep: backtests done of all, failures, events replayed, rate."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.started = stream, time.perf_counter()

    def __call__(self, done: int, total: int, failed: int, events: int) -> None:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        failures = f", {failed} failed" if failed else ""
        self.stream.write(f"\rsweep: {done}/{total} backtests{failures}, {events:,} events replayed, "
                          f"{events / seconds:,.0f} events/s ")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from ..sweep import run_sweep

    progress = SweepProgressLine(sys.stderr) if wants_progress(sys.stderr) else None
    report = run_sweep(args.policy, args.vary, args.out, db=args.db, labels=args.labels, baseline=args.baseline,
                       baseline_labels=args.baseline_labels, workers=args.workers, ray_address=args.ray_address,
                       progress=progress, group=args.group)
    out = sys.stdout
    out.write(f"sweep of {len(report.rows)} variants of {args.policy} ({', '.join(report.plan['vary'])}) "
              f"{report.cluster}: {report.ran} backtests run, {report.skipped} already done, "
              f"{report.seconds:.1f}s\n")
    report.render(out)
    return 1 if report.failed or report.best is None else 0
