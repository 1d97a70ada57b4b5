"""Peak RSS of `safeguards ingest --format jsonl` on garbage (issue 15 item 7): memory bounded by the piece read.

A figure, not a test. Run from the repository root:

    .venv/bin/python bench/bench_ingest_garbage.py [--megabytes 1024] [--kinds urandom,json,huge,mixed]

Each kind of file is generated into a temporary folder (not timed), then ingested into
a fresh database by ``/usr/bin/time -v .venv/bin/safeguards ingest``; printed: the exit
status, wall time, peak RSS and the first line of what the command said.

- ``urandom``: random bytes (newlines where they fall);
- ``json``: lines that parse as JSON but are no events (objects without source or type,
  arrays, numbers, strings);
- ``huge``: one line without a newline, JSON-looking (``{"x": "xxxx...``);
- ``mixed``: a valid event every 1,000 lines of ``json`` garbage (loaded, not refused:
  memory stays bounded by the piece while every row is checked and stored).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_BLOCK = 1 << 20
_JSON_LINES = (b'{"a": 1, "b": [1, 2, 3], "c": "not an event"}\n', b"[1, 2, 3, 4]\n", b"12345\n",
               b'"a string"\n', b'{"source": "nowhere", "type": "nothing"}\n', b"{}\n")
_EVENT = (b'{"source": "broker", "type": "new", "event_id": "e%d", "order_id": "o%d", '
          b'"cum_qty": 0, "leaves_qty": 1, "broker_ts": "2026-02-21T14:30:00Z", "recv_ts": "2026-02-21T14:30:00.001Z"}\n')


def write(kind: str, path: Path, size: int) -> None:
    """Write ``size`` bytes of garbage of ``kind`` to ``path``."""
    with open(path, "wb") as out:
        written = 0
        if kind == "huge":
            out.write(b'{"x": "')
            block = b"x" * _BLOCK
            while written < size:
                out.write(block)
                written += len(block)
            return
        if kind == "urandom":
            while written < size:
                out.write(os.urandom(_BLOCK))
                written += _BLOCK
            return
        block = b"".join(_JSON_LINES[n % len(_JSON_LINES)] for n in range(20_000))
        number = 0
        while written < size:
            if kind == "mixed":
                for _ in range(20):
                    number += 1
                    chunk = b"".join(_JSON_LINES[n % len(_JSON_LINES)] for n in range(999)) + _EVENT % (number, number)
                    out.write(chunk)
                    written += len(chunk)
            else:
                out.write(block)
                written += len(block)


def measure(kind: str, log: Path, db: Path) -> str:
    """One ingest under /usr/bin/time -v: exit status, wall time, peak RSS, first line said."""
    command = ["/usr/bin/time", "-v", str(Path(sys.executable).with_name("safeguards")), "ingest", str(log),
               "--format", "jsonl", "--db", str(db)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "SAFEGUARDS_PROGRESS": "0"})
    seconds = time.perf_counter() - started
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    said = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("\t")]
    peak = f"{int(rss[1]) / 1024:,.0f} MB" if rss else "?"
    return f"{kind:8} exit {done.returncode}  {seconds:7.1f} s  peak RSS {peak:>9}  {said[0][:160] if said else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--kinds", default="urandom,json,huge,mixed")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()}; {args.megabytes:,} MB per file")
    with tempfile.TemporaryDirectory(prefix="bench-garbage-") as folder:
        for kind in args.kinds.split(","):
            log = Path(folder) / f"{kind}.jsonl"
            write(kind, log, args.megabytes << 20)
            print(measure(kind, log, Path(folder) / f"{kind}.duckdb"), flush=True)
            log.unlink()
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
