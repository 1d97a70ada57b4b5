"""`safeguards run --policy P`: the engine as a sidecar speaking JSON lines.

Canonical events in on stdin, one per line; out on stdout: one
``{"type": "decision", ...}`` per input line, followed by the ``{"type":
"alert", ...}`` lines it raised (the loop: :mod:`safeguards.sidecar`). With
``--journal PATH`` the same loop runs behind the journal (group commit, crash
recovery, start-up reconciliation: :mod:`safeguards.journal.sidecar`).
End of input or SIGTERM ends the run cleanly with a summary on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..collector import rare_collections
from ..core import Engine
from ..errors import UsageError
from ..idle_clock import IdleClock
from ..journal.sidecar import serve_journaled
from ..policy.compiled import CompiledPolicy
from ..registry import is_runtime_folder
from ..sidecar import LineReader, Plain, serve, summary
from ..shadow import Shadow, load_candidate
from ..swap import Follower


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="sidecar: canonical events as JSON lines on stdin, decisions and alerts as JSON lines on stdout"
    )
    parser.add_argument("--policy", metavar="P", help="a YAML policy, a compiled JSON policy or a runtime folder")
    parser.add_argument("--follow", metavar="RUNTIME/NAME",
                        help="instead of --policy: run the live version of a promoted policy (runtime/NAME) and take "
                             "its promotions and rollbacks while running (SIGHUP: look now), carrying the state across "
                             "when the new version is compatible")
    parser.add_argument("--shadow", metavar="CANDIDATE",
                        help="also decide every event under a candidate (runtime/NAME@VERSION, or a policy file) "
                             "without enforcing it: stdout is unchanged; both versions' decisions and alerts, and what "
                             "differs, go to --shadow-out as a backtest --compare run folder, with the traffic, which "
                             "makes it promotion evidence (live traffic: the clean-traffic gates)")
    parser.add_argument("--shadow-out", metavar="DIR", help="with --shadow: the run folder to write")
    parser.add_argument("--follow-every", type=float, default=1.0, metavar="SECONDS",
                        help="with --follow: how often to look at the registry (default 1)")
    parser.add_argument("--journal", metavar="PATH",
                        help="journal folder: every input is durable before it is answered; a restart resumes from it")
    parser.add_argument("--broker-open-orders", metavar="FILE",
                        help="with --journal: the broker's open orders (JSON lines) to reconcile against on start-up")
    parser.add_argument("--checkpoint-every", type=int, default=100_000, metavar="N",
                        help="with --journal: write a checkpoint and start a new segment every N records (default 100000)")
    parser.add_argument("--new-session", action="store_true",
                        help="with --journal: the broker's message numbers start over with this run (a new FIX session "
                             "or trading day), so the journal's last number from the previous session is not compared")
    parser.add_argument("--tick", type=float, default=0.25, metavar="SECONDS",
                        help="while no input arrives, broker time moves on by the local time elapsed, looked at every "
                             "SECONDS, so timeouts fire on a quiet stream (default 0.25; 0: time moves with events only, "
                             "e.g. to replay a log exactly)")
    parser.set_defaults(run=run_sidecar)


def run_sidecar(args: argparse.Namespace, stdin: IO[bytes] | None = None, stdout: IO[str] | None = None,
                stderr: IO[str] | None = None) -> int:
    source = stdin if stdin is not None else sys.stdin.buffer
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    journal = getattr(args, "journal", None)
    if journal is None and getattr(args, "broker_open_orders", None) is not None:
        raise UsageError("--broker-open-orders needs --journal: reconciliation acts on the recovered state")
    if journal is None and getattr(args, "new_session", False):
        raise UsageError("--new-session needs --journal: without one every run starts a new session anyway")
    tick = getattr(args, "tick", 0.0)
    if not 0 <= tick < float("inf"):  # NaN fails too
        raise UsageError(f"--tick {tick}: give the seconds between looks at the clock, 0 or more (0: never)")
    follower, policy = _policy_of(args)
    shadow = _shadow_of(args)
    with rare_collections():  # a long stream of short-lived dicts: see safeguards.collector
        if journal is not None:
            return serve_journaled(policy, journal, source, out, err, broker_open_orders=args.broker_open_orders,
                                   checkpoint_every=args.checkpoint_every, tick=tick,
                                   new_session=getattr(args, "new_session", False), follower=follower, shadow=shadow)
        engine = Engine(policy)
        beside = shadow(engine) if shadow is not None else None
        if beside is not None:
            print(f"safeguards run: {beside.describe()}", file=err, flush=True)
        print(f"safeguards run: {engine.identity} ready", file=err, flush=True)
        ended_by = serve(Plain(engine), LineReader(source), out, err, IdleClock(tick), follower, beside)
        if beside is not None:
            print(beside.finish(), file=err, flush=True)
        print(json.dumps(summary(engine, ended_by)), file=err, flush=True)
        return 0




def _policy_of(args: argparse.Namespace) -> tuple[Follower | None, CompiledPolicy | str]:
    """The policy to run, and the registry to follow if ``--follow`` was given."""
    follow, policy = getattr(args, "follow", None), getattr(args, "policy", None)
    if follow is None:
        if policy is None:
            raise UsageError("give --policy P (a policy file or runtime/NAME), or --follow runtime/NAME")
        return None, policy
    if policy is not None:
        raise UsageError("give --policy or --follow, not both: --follow runs the live version of runtime/NAME")
    every = getattr(args, "follow_every", 1.0)
    if not 0 < every < float("inf"):
        raise UsageError(f"--follow-every {every}: give the seconds between looks at the registry, more than 0")
    if not is_runtime_folder(Path(follow)):
        raise UsageError(f"--follow {follow}: not a runtime folder (runtime/NAME with a registry.jsonl); promote a "
                         "version first, or give a policy file with --policy")
    follower = Follower(follow, every)
    return follower, follower.live()


def _shadow_of(args: argparse.Namespace) -> Callable[[Engine], Shadow] | None:
    """What makes the shadow from the live engine, if ``--shadow`` was given (the candidate is loaded now)."""
    candidate, folder = getattr(args, "shadow", None), getattr(args, "shadow_out", None)
    if candidate is None:
        if folder is not None:
            raise UsageError("--shadow-out needs --shadow CANDIDATE: the version to decide beside the live one")
        return None
    if folder is None:
        raise UsageError("--shadow needs --shadow-out DIR: where the candidate's decisions and alerts go")
    policy = load_candidate(candidate)
    return lambda live: Shadow(policy, live, folder)
