"""`safeguards simulate --seed N ... -o OUT`: a deterministic, labelled broker event log."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from ..errors import SimulatorError
from ..events import format_timestamp
from ..simulator import KINDS, SimOptions, Summary, parse_rates, simulate_to

_KINDS_HELP = "; ".join(f"{k.name} (per {k.opportunity}, default {k.default_rate:g})" for k in KINDS)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write a deterministic simulated broker event log with labelled injected faults",
        description="Simulate a multi-leg options book (verticals, strangles, butterflies, iron condors) with "
                    "emergency hedges, and inject faults at the given rates. Writes canonical JSON lines (or "
                    "Parquet when OUT ends in .parquet, or the session as a QuickFIX message log, both sides, "
                    "when OUT ends in .log) and the labels beside it (OUT.labels.jsonl / .labels.parquet; a FIX "
                    "log's labels name what ingest reads back). Same seed and options, same bytes.",
        epilog=f"fault kinds: {_KINDS_HELP}",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--events", type=int, metavar="N", help="stop after the group that brings the log to N events")
    size.add_argument("--groups", type=int, metavar="N", help="number of multi-leg groups (default 1000)")
    parser.add_argument("--rate", action="append", default=[], metavar="KIND=R",
                        help="probability of a fault kind per opportunity (repeatable), e.g. duplicate=0.01")
    parser.add_argument("--faults", choices=("default", "none"), default="default",
                        help="base rates before --rate: the defaults, or none (a clean log)")
    parser.add_argument("-o", "--out", required=True, type=Path, metavar="OUT", help="output log (.jsonl, .parquet, or .log for FIX)")
    parser.add_argument("--workers", type=int, metavar="N", default=None,
                        help="worker processes building the log (default: one per CPU, none for runs under about "
                             "200,000 events; 0: none). The output does not depend on it")
    parser.add_argument("--quiet", action="store_true", help="no progress and no summary")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rates = parse_rates(args.rate, args.faults)
    options = SimOptions(seed=args.seed, events=args.events, groups=args.groups, rates=rates)
    if args.workers is not None and args.workers < 0:
        raise SimulatorError(f"--workers must be 0 or more, got {args.workers}")
    if not args.out.parent.is_dir():
        raise SimulatorError(f"cannot write {args.out}: directory {args.out.parent} does not exist")
    err = sys.stderr
    started = time.perf_counter()

    def progress(events: int, groups: int) -> None:
        if not args.quiet:
            elapsed = time.perf_counter() - started
            err.write(f"simulate: {events:,} events, {groups:,} groups, {elapsed:.1f}s\n")
            err.flush()

    try:
        summary, labels = simulate_to(args.out, options, progress, args.workers)
    except OSError as error:
        raise SimulatorError(f"cannot write {args.out}: {error.strerror or error}") from None
    if not args.quiet:
        _print_summary(summary, args.out, labels, time.perf_counter() - started, sys.stdout)
    return 0


def _print_summary(summary: Summary, out: Path, labels: Path, seconds: float, stream: TextIO) -> None:
    write = stream.write
    write(f"wrote {summary.events:,} events in {summary.groups:,} groups to {out} ({seconds:.2f}s)\n")
    write(f"labels: {sum(summary.faults.values()):,} faults in {labels}\n")
    write(f"broker time: {format_timestamp(summary.first_ns)} .. {format_timestamp(summary.last_ns)}\n")
    write("strategies: " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary.strategies.items())) + "\n")
    write("faults by kind:\n")
    for kind in KINDS:
        write(f"  {kind.name:<24} {summary.faults[kind.name]:>7,}\n")
