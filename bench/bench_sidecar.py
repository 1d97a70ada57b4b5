"""Sidecar benchmark: `safeguards run` over a pipe, plain and with --journal, as a parent process talks to it.

    .venv/bin/python bench/bench_sidecar.py [--events 200000] [--pings 2000] [--folder DIR] [--tree CHECKOUT]
                                            [--lines native,python]

* events/s: a writer thread streams N events (bench_journal's mix: quote, intent, submit, new, partial
  fill, fill) into the sidecar's stdin as fast as the pipe takes them while the parent reads every answer;
  timed from the first byte written to the last decision read (start-up excluded: the clock starts once
  the sidecar says it is ready). The parent counts decision lines in the raw bytes it reads (1 MiB
  reads, the decision line's prefix counted after each newline) and parses none: iterating the answers
  line by line in Python capped this figure near 165k events/s while the sidecar alone answered the
  same events at 400k+, so the figure measures the sidecar, not the parent. Beside it, the share of
  that time the sidecar was on a CPU (from /proc): well under 100% on a busy machine means it was
  waiting for a core, or for the parent, not working;
* one line in, one decision out: the parent writes one event, waits for its decision, then the next;
  p50 and p99 of the round trip over `--pings` events (after 200 unmeasured ones).
Each figure is given per way of answering lines (``--lines``: the core's ``native`` path, the default, and
the ``python`` one, ``SAFEGUARDS_SIDECAR_LINES=python``), alternated in the same run.
Each figure is for the command of the checkout it runs from (`python -m safeguards run`), or of `--tree`
(another checkout of the package, with its compiled `safeguards/_core*.so`): to compare two versions in
one run on a busy machine, alternate them. The journal's
figures depend on the disk's fdatasync (a virtual disk shared with other work here). Figures and what
they were measured against: docs/ARCHITECTURE.md, "Sidecar figures".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_journal import POLICY, stream  # noqa: E402  (the same event mix)


TREE: Path | None = None  #: the checkout whose `safeguards` runs (None: this one)


def start(folder: Path, journal: bool, lines: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "safeguards", "run", "--policy", str(folder / "policy.json"), "--tick", "0"]
    if journal:
        target = folder / "journal"
        shutil.rmtree(target, ignore_errors=True)
        command += ["--journal", str(target)]
    environment = {**os.environ, "SAFEGUARDS_SIDECAR_LINES": lines}
    if TREE is not None:
        environment["PYTHONPATH"] = str(TREE)
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment, cwd=TREE)
    for raw in process.stderr:  # ready once it says so (recovery and start-up not timed)
        if b" ready" in raw:
            break
    threading.Thread(target=process.stderr.read, daemon=True).start()
    return process


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux: /proc), None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def throughput(folder: Path, lines: list[bytes], journal: bool, way: str) -> tuple[float, float | None]:
    """Events per second of wall time, and the share of that time the sidecar was on a CPU (None: unknown)."""
    process = start(folder, journal, way)
    data = b"".join(lines)

    def feed() -> None:
        process.stdin.write(data)
        process.stdin.close()

    before = cpu_seconds(process.pid)
    began = time.perf_counter()
    writer = threading.Thread(target=feed)
    writer.start()
    decisions = count_decisions(process.stdout.fileno(), len(lines))
    elapsed = time.perf_counter() - began
    after = cpu_seconds(process.pid)  # read before it exits: its summary and shutdown are not counted
    writer.join()
    process.wait()
    assert decisions == len(lines), (decisions, len(lines))
    busy = (after - before) / elapsed if before is not None and after is not None else None
    return len(lines) / elapsed, busy


DECISION = b'\n{"type":"decision"'  #: how a decision line starts, after the newline ending the line before it


def count_decisions(descriptor: int, expected: int) -> int:
    """Decision lines read from `descriptor` until `expected` of them or end of output, counted in the raw bytes."""
    count, tail = 0, b"\n"  # the first line has no newline before it
    while count < expected:
        chunk = os.read(descriptor, 1 << 20)
        if not chunk:
            break
        data = tail + chunk
        count += data.count(DECISION)
        tail = data[-(len(DECISION) - 1):]  # a prefix cut by the read is counted with the next chunk, never twice
    return count


def round_trips(folder: Path, lines: list[bytes], journal: bool, way: str, warm: int = 200) -> tuple[float, float]:
    process = start(folder, journal, way)
    times = []
    for index, line in enumerate(lines):
        began = time.perf_counter()
        process.stdin.write(line)
        process.stdin.flush()
        while not process.stdout.readline().startswith(b'{"type":"decision"'):
            pass  # an alert line: its decision came first
        if index >= warm:
            times.append(time.perf_counter() - began)
    process.stdin.close()
    process.wait()
    times.sort()
    return times[len(times) // 2] * 1e6, times[int(len(times) * 0.99)] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--folder", type=Path, default=None, help="where the journal goes (default: a temporary folder)")
    parser.add_argument("--tree", type=Path, default=None, help="run the sidecar of this checkout instead")
    parser.add_argument("--lines", default="native,python",
                        help="ways of answering lines to compare, alternated: native (the core), python (default both)")
    args = parser.parse_args()
    global TREE
    TREE = args.tree.resolve() if args.tree else None
    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "safeguards", "compile", str(POLICY), "-o", str(folder / "policy.json")],
                   check=True, capture_output=True)
    lines = [json.dumps(event, separators=(",", ":")).encode() + b"\n" for event in stream(args.events)]
    pings = lines[:args.pings + 200]
    print(f"python {sys.version.split()[0]}, {args.events:,} events over a pipe, {args.pings:,} round trips; "
          f"sidecar of {TREE or 'this checkout'}; load {os.getloadavg()[0]:.2f}")
    for journal in (False, True):
        for way in args.lines.split(","):
            name = f"{'--journal' if journal else 'plain'} {way}"
            rate, busy = throughput(folder, lines, journal, way)
            p50, p99 = round_trips(folder, pings, journal, way)
            on_cpu = f" (sidecar on a CPU {busy:.0%} of it)" if busy is not None else ""
            print(f"{name:>16}: {rate:>10,.0f} events/s{on_cpu}   one line in, one decision out: p50 {p50:,.1f} us, "
                  f"p99 {p99:,.1f} us")
    print(f"load after {os.getloadavg()[0]:.2f}")
    if args.folder is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
