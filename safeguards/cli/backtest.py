"""`safeguards backtest --policy P (--events LOG | --db DB) --out DIR`: replay history through the engine."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from ..backtest import BacktestResult, render_comparison, run_backtest
from ..errors import UsageError
from .progress import wants_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backtest",
        help="replay stored broker events through a policy; write decisions, alerts, summary and evidence",
        description="Replay events in arrival order through the production engine. DIR gets decisions.parquet, "
                    "alerts.parquet, summary.json, metrics.json (evidence for `safeguards promote`) and, with labels, "
                    "scoring.json listing every missed fault and false alert. With --db the decisions and alerts "
                    "are also stored in the database; with --events the log is ingested into DIR/events.duckdb. "
                    "Exit 1 when a promotion gate that applies to this kind of data fails.",
    )
    parser.add_argument("--policy", required=True, type=Path, metavar="P", help="YAML or compiled policy, or runtime/<name>")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--events", type=Path, metavar="LOG", help="a log file (JSON lines, Parquet, CSV, FIX)")
    source.add_argument("--db", type=Path, metavar="DB", help="an event store made by `safeguards ingest`")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="run folder to write")
    parser.add_argument("--labels", type=Path, metavar="LABELS",
                        help="simulator labels to score against (default: the labels file beside --events, if any)")
    parser.add_argument("--from", dest="start", metavar="T", help="only events received at or after T (RFC 3339)")
    parser.add_argument("--to", dest="end", metavar="T", help="only events received at or before T (RFC 3339)")
    parser.add_argument("--account", metavar="A", help="only this account's events")
    parser.add_argument("--compare", type=Path, metavar="OTHER_POLICY",
                        help="also replay through OTHER_POLICY; report verdicts that change and alerts that appear or vanish")
    scale = parser.add_argument_group(
        "partitioned (a large store split into parts that share no engine state, in parallel on Ray; "
        "the merged outputs are the single run's)")
    scale.add_argument("--partitions", type=int, metavar="N",
                       help="split the --db store into at most N parts (whole logs; logs sharing an account, an order, "
                            "a group or the policy's reach in time stay together); says what keeps it in fewer")
    scale.add_argument("--workers", type=int, metavar="W",
                       help="Ray workers of the local runtime (default: the core count); 0: the parts one after "
                            "another in this process, no Ray")
    scale.add_argument("--ray-address", metavar="ADDR",
                       help="a Ray cluster to run the parts on (default: $RAY_ADDRESS); its workers must reach DB "
                            "and DIR at the same paths")
    parser.set_defaults(run=run)


class ProgressLine:
    """One line on stderr, redrawn at most twice a second: events done, share, rate."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.started, self.drawn = stream, time.perf_counter(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.drawn < 0.5 and done < total:
            return
        self.drawn = now
        rate = done / max(now - self.started, 1e-9)
        share = f" ({done / total:.0%})" if total else ""
        self.stream.write(f"\rbacktest: {done:,}/{total:,} events{share}, {rate:,.0f} events/s ")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    if args.partitions is not None:
        return run_parts(args)
    if args.workers is not None or args.ray_address:
        raise UsageError("--workers and --ray-address say where the parts of a partitioned backtest run; "
                         "give --partitions N with them")
    progress = ProgressLine(sys.stderr) if wants_progress(sys.stderr) else None
    result = run_backtest(
        args.policy, args.out, events=args.events, db=args.db, labels=args.labels, start=args.start,
        end=args.end, account=args.account, compare=args.compare, progress=progress,
    )
    print_result(result, sys.stdout)
    if result.comparison is not None:
        print(render_comparison(result.comparison))
        print(f"differences: {result.out_dir / 'comparison.json'}, verdict_changes.parquet, alert_changes.parquet; "
              f"B's own run: {result.other.out_dir if result.other else '-'}")
    return 1 if result.gates.failed else 0


class PartsProgressLine:
    """One line on stderr for a partitioned backtest: parts done of all, events in finished parts, rate."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.started = stream, time.perf_counter()

    def __call__(self, done: int, total: int, events: int) -> None:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        self.stream.write(f"\rbacktest: {done}/{total} parts, {events:,} events, {events / seconds:,.0f} events/s ")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run_parts(args: argparse.Namespace) -> int:
    """``--partitions N``: the plan said first (and what keeps the store in fewer parts), then the merged run."""
    from ..policy import load_policy
    from ..sweep import Cluster, plan_partitions, run_partitioned

    if args.db is None:
        raise UsageError("--partitions splits an event store of several logs: load them first with "
                         "`safeguards ingest LOG... --db DB`, then give --db DB")
    others = [flag for flag, value in (("--compare", args.compare), ("--from", args.start), ("--to", args.end),
                                       ("--account", args.account)) if value is not None]
    if others:
        raise UsageError(f"--partitions backtests the whole store; it cannot be combined with {', '.join(others)} "
                         "(run without --partitions for that)")
    policy = load_policy(args.policy)
    cluster = Cluster.choose(args.workers, args.ray_address)
    plan = plan_partitions(policy, args.db, args.partitions)
    print(f"partitioned backtest of {args.db} ({args.partitions} parts asked, {cluster.describe()}): "
          + "; ".join(plan.explain()), flush=True)
    progress = PartsProgressLine(sys.stderr) if wants_progress(sys.stderr) else None
    result = run_partitioned(policy, args.db, args.out, parts=args.partitions, labels=args.labels,
                             workers=args.workers, ray_address=args.ray_address, plan=plan, progress=progress)
    print_result(result, sys.stdout)  # type: ignore[arg-type]  # the same fields a single run's result has
    print(f"partitions: {result.out_dir / 'partitions.json'}; each part's own run folder under {result.out_dir / 'parts'}")
    return 1 if result.gates.failed else 0


def print_result(result: BacktestResult, out: TextIO) -> None:
    summary, metrics = result.summary, result.evidence["metrics"]
    dataset = result.evidence["dataset"]
    out.write(f"backtest {summary['policy']['identity']} on {dataset['source']} ({dataset['kind']}): "
              f"{metrics['events']:,} events, {metrics['alerts']:,} alerts ({metrics['critical_alerts']:,} critical) "
              f"in {result.seconds:.2f}s\n")
    out.write("verdicts: " + ", ".join(f"{k} {v:,}" for k, v in summary["verdicts"].items()) + "\n")
    logs = summary.get("logs", [])
    for log in logs:
        for note in log["notes"]:
            out.write(f"note: {log['path'] if len(logs) > 1 else 'the log'}: {note}\n")
    if summary["alert_kinds"]:
        out.write("alerts: " + ", ".join(f"{k} {v:,}" for k, v in summary["alert_kinds"].items()) + "\n")
    if result.scoring is not None:
        out.write(f"faults: {metrics['injected_faults']:,} injected, {metrics['detected_faults']:,} detected, "
                  f"{metrics['missed_faults']:,} missed; {metrics['false_alerts']:,} false alerts\n")
        assumed = result.scoring.get("assumptions", {})
        for kind, row in result.scoring["by_fault_kind"].items():
            otherwise = f", {row['detected_otherwise']:,} caught otherwise" if row.get("detected_otherwise") else ""
            limit = assumed.get(kind)
            differs = (f" (labels assume {limit['limit']} = {limit['labels_assume']:g}, this policy has "
                       f"{limit['this_policy']})" if limit and not limit["same"] else "")
            out.write(f"  {kind:<24} {row['detected']:>6,}/{row['injected']:<6,} missed {row['missed']:,}"
                      f"{otherwise}{differs}\n")
        if result.scoring.get("alerts_after_block"):
            out.write(f"  {result.scoring['alerts_after_block']:,} alerts are the broker's answers to orders this "
                      "policy blocked at their intent: not counted as false alerts\n")
    for line in result.gates.lines():
        out.write(f"gate {line}\n")
    out.write(f"wrote {result.out_dir}/: decisions.parquet, alerts.parquet, summary.json, metrics.json"
              + (", scoring.json" if result.scoring is not None else "") + "\n")
