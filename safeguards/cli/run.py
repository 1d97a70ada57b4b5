"""`safeguards run --policy P`: the engine as a sidecar speaking JSON lines.

Canonical events in on stdin, one per line; out on stdout: one
``{"type": "decision", ...}`` per input line, followed by the ``{"type":
"alert", ...}`` lines it raised. Output is flushed as soon as the lines that
arrived together are decided (one line, when a parent talks to it line by line;
a burst is answered in one write), so a parent process can talk to it. A malformed line
gets an ``invalid`` decision naming its line number, and the stream goes on.
End of input or SIGTERM ends the run cleanly with a summary on stderr.
While no input arrives, broker time moves on by elapsed local time
(:mod:`safeguards.idle_clock`), so timeouts fire on a quiet stream: their alert
lines come by themselves, with no decision before them.
With ``--journal PATH`` the loop is :mod:`safeguards.journal.sidecar` (group
commit, crash recovery, start-up reconciliation).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import IO, Any

from ..collector import rare_collections
from ..core import Engine
from ..errors import UsageError
from ..idle_clock import IdleClock
from ..journal.journaled import Answer, Line
from ..journal.sidecar import LineReader, answer_quiet, parse_line, serve_journaled, write_answers


class _Stop(Exception):
    """SIGTERM arrived while waiting for input."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="sidecar: canonical events as JSON lines on stdin, decisions and alerts as JSON lines on stdout"
    )
    parser.add_argument("--policy", required=True, metavar="P", help="a YAML policy or a compiled JSON policy")
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
    with rare_collections():  # a long stream of short-lived dicts: see safeguards.collector
        if journal is not None:
            return serve_journaled(args.policy, journal, source, out, err, broker_open_orders=args.broker_open_orders,
                                   checkpoint_every=args.checkpoint_every, tick=tick,
                                   new_session=getattr(args, "new_session", False))
        return _serve(Engine(args.policy), source, out, err, IdleClock(tick))


def _serve(engine: Engine, source: IO[bytes], out: IO[str], err: IO[str], clock: IdleClock) -> int:
    """The sidecar without a journal: answer each line until end of input or SIGTERM, then the summary."""
    state = {"reading": False, "stop": False}

    def on_sigterm(signum: int, frame: Any) -> None:
        state["stop"] = True
        if state["reading"]:
            raise _Stop

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    print(f"safeguards run: {engine.identity} ready", file=err, flush=True)
    ended_by = "end of input"
    reader = LineReader(source)
    try:
        line_number = 0
        while not state["stop"]:
            state["reading"] = True
            try:
                raw_lines = reader.next_lines(clock.tick)
            finally:
                state["reading"] = False
            if not raw_lines and not reader.ended:
                answer_quiet(clock, engine, engine.advance, out)
                continue
            answers, numbers = [], []
            for raw in raw_lines:
                line_number += 1
                if raw.strip():
                    answers.append(_answer(engine, raw))
                    numbers.append(line_number)
            write_answers(answers, out, line_numbers=numbers)  # the lines that came together, answered together
            out.flush()
            clock.heard(engine.now)
            if reader.ended:
                break
        else:
            ended_by = "SIGTERM"
    except _Stop:
        ended_by = "SIGTERM"
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = {
        "type": "summary",
        "ended_by": ended_by,
        "policy": engine.identity,
        "events": engine.arrivals,
        "verdicts": engine.counts,
        "alerts": engine.alert_counts,
        "trading": engine.escalation.snapshot(),
    }
    print(json.dumps(summary), file=err, flush=True)
    return 0


def _answer(engine: Engine, raw: bytes) -> Answer:
    """Decide one input line: its decision and the alerts raised.

    An event without a ``seq`` gets its arrival position from the engine (blank
    lines are not arrivals), as the journaled sidecar numbers it: the same
    input gets the same answers with or without ``--journal``.
    """
    parsed = parse_line(raw)
    decision = engine.process(parsed.event) if type(parsed) is Line else engine.invalid(None, parsed[1])
    return decision, engine.pop_alerts()
