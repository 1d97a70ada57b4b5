"""`safeguards notebook run NAME -p KEY VALUE ...`: a validation notebook, executed into a run folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from ..gates import WHAT_TO_RUN, Verdict
from ..notebook import NotebookRun, parse_value, run_notebook
from .progress import wants_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "notebook",
        help="run a parameterized validation notebook (papermill) into runs/<policy>/<version>/<run-id>/",
        description="Validation notebooks live in notebooks/. The run folder gets the executed notebook, an HTML "
                    "rendering and the metrics (evidence for `safeguards promote`).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_parser = actions.add_parser(
        "run", help="execute notebooks/NAME.ipynb with parameters",
        description="Exit 0 when the notebook ran and every gate that applies to its data passed; 1 when a gate "
                    "failed; 2 when a cell failed (named, with its error) or the input is wrong.",
    )
    run_parser.add_argument("name", metavar="NAME", help="notebook name, e.g. backtest or compare")
    run_parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                            help="set a parameter of the notebook's parameters cell (repeatable)")
    run_parser.add_argument("--runs", type=Path, default=Path("runs"), metavar="DIR", help="runs root (default: runs)")
    run_parser.add_argument("--notebooks", type=Path, metavar="DIR", help="where NAME.ipynb is (default: notebooks/)")
    run_parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    parameters = {key: parse_value(value) for key, value in args.parameter}
    print(f"running {args.name} notebook ...", file=sys.stderr, flush=True)
    result = run_notebook(args.name, parameters, runs_root=args.runs, notebooks_dir=args.notebooks,
                          progress=wants_progress(sys.stderr))
    out = sys.stdout
    if result.sweep is not None:
        return print_sweep(result, out)
    sides = [("policy", result.main)] + ([("candidate", result.candidate)] if result.candidate else [])
    for role, side in sides:
        out.write(f"{side.gates.verdict.value}: {role} {side.policy.identity} ({side.source})\n")
        for folder, document in side.evidence:
            metrics, dataset = document["metrics"], document["dataset"]
            out.write(f"  evidence {folder}: {dataset['kind']} data {dataset['source']}, {metrics['events']:,} events, "
                      f"{metrics['alerts']:,} alerts, recall {metrics['recall']}, false alerts {metrics['false_alerts']}\n")
        for line in side.gates.lines():
            out.write(f"  gate {line}\n")
    out.write(f"report: {result.html}\nexecuted notebook: {result.notebook}\nrun folder: {result.folder}\n")
    judged = result.judged
    if judged.gates.failed:
        out.write(f"{len(judged.gates.failed)} gate(s) of {judged.policy.identity} failed: not promotable as is\n")
        return 1
    if judged.gates.verdict is Verdict.NOT_ENOUGH_EVIDENCE:  # nothing failed, but nothing was proved either
        out.write(f"not enough evidence to promote {judged.policy.identity}: {WHAT_TO_RUN}\n")
        return 0
    evidence = " ".join(f"--evidence {folder}" for folder, _ in judged.evidence)
    out.write(f"to promote: safeguards promote {judged.source} {evidence} --by NAME --reason TEXT\n")
    return 0


def print_sweep(result: NotebookRun, out: TextIO) -> int:
    """A sweep notebook's run: the sweep's report as `safeguards sweep` prints it; exit as that command does."""
    report = result.sweep
    assert report is not None
    best = report.best
    out.write(f"{result.main.gates.verdict.value}: sweep of {len(report.rows)} variants ({', '.join(report.plan['vary'])}): "
              + (f"best {best.identity} ({best.describe()})\n" if best is not None else
                 "no variant passes every gate\n"))
    report.render(out)
    out.write(f"report: {result.html}\nexecuted notebook: {result.notebook}\nrun folder: {result.folder}\n")
    return 1 if report.failed or best is None else 0
