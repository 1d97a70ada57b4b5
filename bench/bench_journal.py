"""Journal benchmark: durable intent commit latency, journal on vs off, recovery time, size on disk.

    .venv/bin/python bench/bench_journal.py [--events 1000000] [--folder DIR]

* commit latency: one intent per `JournaledEngine.submit` (append + fdatasync + decide), p50/p99;
* events/s through the engine with the journal off and on, same events, group commits of 256: event dicts
  (the Python API, re-encoded for the journal), and input lines as `safeguards run` reads them (journaled as received);
* recovery: start-up time of a JournaledEngine over a journal of N events, by full replay and from a checkpoint;
* size on disk per million events (segments as written).
Figures depend on the disk: this machine has 2 shared cores and a virtual disk shared with other work, so the
journal-on figures also give process CPU per event (unaffected by disk waits) and the share of wall time spent
waiting in fdatasync.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from safeguards import Engine
from safeguards.journal.journaled import JournaledEngine
from safeguards.sidecar import parse_line
from safeguards.policy import load_policy

POLICY = Path(__file__).resolve().parents[1] / "rules" / "multileg_options.yaml"
T0 = 1_771_684_200_000_000_000
MS = 1_000_000


def stream(n: int) -> list[dict]:
    """n realistic events: per order intent, submit, new, partial fill, fill, and a quote."""
    events: list[dict] = []
    order = 0
    while len(events) < n:
        order += 1
        oid, t = f"O{order}", T0 + order * 10 * MS
        events += [
            {"source": "market", "type": "quote", "event_id": f"q{order}", "symbol": "SPY", "bid_px": 1.0, "bid_qty": 100,
             "ask_px": 1.1, "ask_qty": 100, "broker_ts": t, "recv_ts": t + MS},
            {"source": "local", "type": "intent", "event_id": f"i{order}", "order_id": oid, "group_id": f"G{order}",
             "role": "leg", "symbol": "SPY", "side": "buy", "qty": 10, "recv_ts": t + 2 * MS},
            {"source": "local", "type": "submit", "event_id": f"s{order}", "order_id": oid, "recv_ts": t + 3 * MS},
            {"source": "broker", "type": "new", "event_id": f"n{order}", "order_id": oid, "cum_qty": 0, "leaves_qty": 10,
             "broker_ts": t + 3 * MS, "recv_ts": t + 4 * MS},
            {"source": "broker", "type": "partial_fill", "event_id": f"p{order}", "order_id": oid, "last_qty": 4,
             "last_px": 1.05, "cum_qty": 4, "leaves_qty": 6, "broker_ts": t + 5 * MS, "recv_ts": t + 6 * MS},
            {"source": "broker", "type": "fill", "event_id": f"f{order}", "order_id": oid, "last_qty": 6, "last_px": 1.05,
             "cum_qty": 10, "leaves_qty": 0, "broker_ts": t + 7 * MS, "recv_ts": t + 8 * MS},
        ]
    return events[:n]


def commit_latency(policy, folder: Path, intents: int = 2000) -> tuple[float, float]:
    events = [e for e in stream(intents * 6) if e["type"] == "intent"][:intents]
    samples = []
    with JournaledEngine(policy, folder / "latency") as journaled:
        for event in events:
            started = time.perf_counter()
            (decision, _), = journaled.submit([event])
            samples.append(time.perf_counter() - started)
            assert decision["verdict"] == "accept"
            journaled.answered()
    samples.sort()
    return samples[len(samples) // 2] * 1e6, samples[int(len(samples) * 0.99)] * 1e6


class SyncClock:
    """Time spent in os.fdatasync (the journal's only durability wait), to tell CPU cost from disk weather."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._real = os.fdatasync

    def __enter__(self) -> "SyncClock":
        def timed(fd: int) -> None:
            started = time.perf_counter()
            self._real(fd)
            self.seconds += time.perf_counter() - started
        os.fdatasync = timed
        return self

    def __exit__(self, *exc: object) -> None:
        os.fdatasync = self._real


@dataclass
class Rates:
    """One journal-off / journal-on comparison: wall-clock rates, CPU per event, and the fdatasync share."""

    off: float  # events/s
    on: float
    off_cpu_us: float  # process CPU per event: unaffected by waiting on the disk
    on_cpu_us: float
    waiting: float  # share of the journal-on wall time spent in fdatasync

    def __str__(self) -> str:
        return (f"journal off {self.off:,.0f}, on {self.on:,.0f} ({self.on / self.off:.0%} of off); CPU per event "
                f"off {self.off_cpu_us:.1f} us, on {self.on_cpu_us:.1f} us ({self.off_cpu_us / self.on_cpu_us:.0%}); "
                f"{self.waiting:.0%} of journal-on time waiting in fdatasync")


class Clock:
    """Wall and process-CPU time of a block."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def throughput(policy, folder: Path, events: list[dict], batch: int = 256) -> Rates:
    plain = Engine(policy)
    work = copy.deepcopy(events)
    with Clock() as off:
        for i in range(0, len(work), batch):
            for event in work[i:i + batch]:
                plain.process(event)
            plain.pop_alerts()
    work = copy.deepcopy(events)
    with JournaledEngine(policy, folder / "throughput", checkpoint_every=None) as journaled, SyncClock() as sync:
        with Clock() as on:
            for i in range(0, len(work), batch):
                journaled.submit(work[i:i + batch])
                journaled.answered()
    n = len(work)
    return Rates(n / off.wall, n / on.wall, off.cpu / n * 1e6, on.cpu / n * 1e6, sync.seconds / on.wall)


def line_throughput(policy, folder: Path, events: list[dict], batch: int = 256) -> Rates:
    """As `safeguards run` does: input lines parsed then decided; with the journal, journaled as received."""
    lines = [json.dumps(event, separators=(",", ":")).encode() for event in events]
    plain = Engine(policy)
    with Clock() as off:
        for i in range(0, len(lines), batch):
            for raw in lines[i:i + batch]:
                plain.process(parse_line(raw).event)  # type: ignore[union-attr]  # as the sidecar reads it
            plain.pop_alerts()
    with JournaledEngine(policy, folder / "lines", checkpoint_every=None) as journaled, SyncClock() as sync:
        with Clock() as on:
            for i in range(0, len(lines), batch):
                journaled.submit([parse_line(raw) for raw in lines[i:i + batch]])
                journaled.answered()
    n = len(lines)
    return Rates(n / off.wall, n / on.wall, off.cpu / n * 1e6, on.cpu / n * 1e6, sync.seconds / on.wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--throughput-events", type=int, default=200_000)
    parser.add_argument("--folder", type=Path, default=None, help="where journals go (default: a temporary folder)")
    args = parser.parse_args()
    policy = load_policy(POLICY)
    folder = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=args.folder))
    try:
        p50, p99 = commit_latency(policy, folder)
        print(f"durable intent commit (submit of one intent: append + fdatasync + decide): p50 {p50:.0f} us, p99 {p99:.0f} us")
        print(f"events/s, group commits of 256, {args.throughput_events:,} events: "
              f"{throughput(policy, folder, stream(args.throughput_events))}")
        print(f"input lines/s as `safeguards run` (parse + decide), group commits of 256: "
              f"{line_throughput(policy, folder, stream(args.throughput_events))}")
        big = folder / "recovery"
        events = stream(args.events)
        with JournaledEngine(policy, big) as journaled:
            for i in range(0, len(events), 4096):
                journaled.submit(events[i:i + 4096])
                journaled.answered()
        del events
        size = sum(p.stat().st_size for p in big.rglob("segment-*.jsonl"))
        print(f"journal size: {size / 2**20:,.0f} MiB for {args.events:,} events = "
              f"{size / 2**20 * 1e6 / args.events:,.0f} MiB per million events")
        started = time.perf_counter()
        with JournaledEngine(policy, big) as journaled:
            replayed = time.perf_counter() - started
            assert journaled.engine.arrivals == args.events
            started = time.perf_counter()
            journaled.checkpoint()
            stall = time.perf_counter() - started
            started = time.perf_counter()  # the same state the way checkpoints were made before the core wrote it
            json.dumps(journaled.engine.state(), separators=(",", ":"), sort_keys=True, allow_nan=False)
            through_python = time.perf_counter() - started
        checkpoint = next(big.glob("checkpoint-*.json"))
        print(f"checkpoint of {args.events:,} events' state (no answer meanwhile): {stall * 1e3:,.0f} ms "
              f"(state text, write, fdatasync, rename); building the state in Python and encoding it: "
              f"{through_python * 1e3:,.0f} ms")
        started = time.perf_counter()
        with JournaledEngine(policy, big) as journaled:
            restored = time.perf_counter() - started
            assert journaled.engine.arrivals == args.events
        print(f"recovery of {args.events:,} events: full replay {replayed:.1f} s ({args.events / replayed:,.0f} ev/s); "
              f"from a checkpoint ({checkpoint.stat().st_size / 2**20:,.0f} MiB) {restored:.1f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
