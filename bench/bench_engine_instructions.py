"""Instructions per event through the engine, counted by callgrind: a figure a shared machine cannot blur.

Run: .venv/bin/python bench/bench_engine_instructions.py [--events N] [--modes process,stored,bulk,columns]

Wall-clock rates on this 2-core machine move 2-3x with whatever else runs;
callgrind counts the instructions executed, the same on every run for the same
binary and input. Each mode runs in its own child under
``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0``, counting only inside
the engine's entry point (``--toggle-collect`` on the binding's method, the
call's argument handling included, the interpreter's loop around it not):
``process`` decides every event of ``bench_engine.make_events`` with
:meth:`Engine.process` (the live path: checked), ``stored`` with
:meth:`Engine.process_stored` (the backtest's path: the store already screened
them), ``bulk`` with :meth:`Engine.decide_stored` (the backtest's bulk path:
outcomes, no decision dicts), ``columns`` with :meth:`Engine.decide_columns`
(the backtest's columnar path: the store's Arrow batches in, decision columns
out). The count over the events is the figure.

Until 2026-12-04 the figure was the whole program's count less a baseline
run's (building the events and the engine): that difference moved by about
+-10% from run to run (Python's collector and address layout), more than some
changes measured; counting inside the entry point repeats exactly. Needs
valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = ("process", "stored", "bulk", "columns")
#: The binding method each mode calls: callgrind counts only inside it.
ENTRY = {
    "process": "process",
    "stored": "process_stored",
    "bulk": "decide_stored",
    "columns": "decide_columns",
}


def child(mode: str, count: int) -> None:
    sys.path.insert(0, str(HERE))
    from bench_engine import POLICY, make_events, store_batches

    from safeguards import Engine
    from safeguards.screening import check_event

    events = make_events(count)
    fields = [check_event(event)[3] for event in events]
    batches = store_batches(events)
    engine = Engine(POLICY)
    if mode == "process":
        process = engine.process
        for event in events:
            process(event)
    elif mode == "stored":
        stored = engine.process_stored
        for event, named in zip(events, fields):
            stored(event, named)
    elif mode == "bulk":
        engine.decide_stored(events, fields)
    elif mode == "columns":
        for batch in batches:
            engine.decide_columns(batch, {})
    print(len(events))


def instructions(mode: str, count: int) -> tuple[int, int]:
    """(instructions inside the mode's entry point, events) of one mode, run in a child under callgrind."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         f"--toggle-collect=*Engine::__pymethod_{ENTRY[mode]}__*", sys.executable, __file__,
         "--child", mode, "--events", str(count)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True,
    )
    collected = re.search(r"Collected : (\d+)", result.stderr)
    if collected is None:
        raise SystemExit(f"callgrind printed no count for {mode}:\n{result.stderr[-2000:]}")
    return int(collected.group(1)), int(result.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--modes", default=",".join(MODES), help="which of process,stored,bulk,columns (default: all)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.events)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    print(f"python {sys.version.split()[0]}, {args.events:,} events of bench_engine's mix, PYTHONHASHSEED=0")
    for mode in args.modes.split(","):
        total, events = instructions(mode, args.events)
        print(f"{mode:8s} {total / events:10,.0f} instructions/event (inside Engine.{ENTRY[mode]})")


if __name__ == "__main__":
    main()
