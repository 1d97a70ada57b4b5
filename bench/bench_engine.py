"""Engine throughput, per-event latency and dedup-key memory on a realistic event mix.

Run: .venv/bin/python bench/bench_engine.py [--events N] [--policy P]

The engine is the compiled core behind :class:`safeguards.Engine`, on each of
its entry points in turn: one event at a time, ``process_batch``,
``decide_batch``, ``decide_stored`` and ``decide_columns``.
Rates are wall-clock and CPU time (``time.process_time``: less blurred by the
other work on a shared machine); compare ratios within one run, not across runs.

The mix: multi-leg groups (2 to 4 legs), each leg intent, submit, ack, one to
three partial fills and a fill; top-of-book quotes between them; an emergency
hedge (intent, submit, ack, fill) in one group in five; about 2% of broker
events delivered twice. Timestamps are integer nanoseconds. Figures, not a
pass/fail test: the targets are >= 500,000 events/s, p99 <= 20 us per event,
and 1,000,000 dedup keys in under 150 MB. The ratio to a bare Python loop doing
one dict lookup and one set membership test per event is printed as well.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

from safeguards import Engine, load_policy
from safeguards.screening import check_event

POLICY = Path(__file__).resolve().parents[1] / "rules" / "multileg_options.yaml"
MS = 1_000_000
START = 1_771_684_200_000_000_000


def make_events(count: int, seed: int = 7) -> list[dict]:
    """A deterministic stream of about ``count`` canonical events."""
    rng = random.Random(seed)
    events: list[dict] = []
    clock = START
    ids = 0
    symbols = [f"SPX-{k}" for k in range(40)]

    def stamp() -> int:
        nonlocal clock
        clock += rng.randint(20_000, 200_000)  # 20 to 200 us between events
        return clock

    def quote() -> dict:
        t = stamp()
        return {"source": "market", "type": "quote", "symbol": rng.choice(symbols), "bid_px": 1.2, "bid_qty": 500,
                "ask_px": 1.3, "ask_qty": 500, "broker_ts": t, "recv_ts": t + 300_000}

    def broker(type_: str, order_id: str, cum: int, leaves: int, last: int = 0) -> dict:
        nonlocal ids
        ids += 1
        t = stamp()
        event = {"source": "broker", "type": type_, "event_id": f"E{ids:09d}", "order_id": order_id,
                 "cum_qty": cum, "leaves_qty": leaves, "broker_ts": t, "recv_ts": t + 300_000}
        if last:
            event["last_qty"] = last
            event["last_px"] = 1.25
        return event

    def local(type_: str, order_id: str, **fields) -> dict:
        nonlocal ids
        ids += 1
        return {"source": "local", "type": type_, "event_id": f"L{ids:09d}", "order_id": order_id,
                "recv_ts": stamp() + 300_000, **fields}

    group = 0
    session_seq = 0
    while len(events) < count:
        group += 1
        group_id = f"G{group}"
        legs = []
        for leg in range(rng.randint(2, 4)):
            order_id, symbol, qty = f"{group_id}-L{leg}", rng.choice(symbols), rng.randint(5, 50)
            legs.append((order_id, symbol, qty))
            events.append(local("intent", order_id, group_id=group_id, role="leg", symbol=symbol,
                                side=rng.choice(("buy", "sell")), qty=qty))
            events.append(local("submit", order_id))
        streams = []
        for order_id, symbol, qty in legs:
            life = [broker("new", order_id, 0, qty)]
            cum = 0
            for _ in range(rng.randint(1, 3)):
                step = rng.randint(1, max(1, (qty - cum) // 2))
                if cum + step >= qty:
                    break
                cum += step
                life.append(broker("partial_fill", order_id, cum, qty - cum, step))
            life.append(broker("fill", order_id, qty, 0, qty - cum))
            streams.append(life)
        while any(streams):  # interleave the legs' events with quotes and resends
            life = rng.choice([s for s in streams if s])
            event = life.pop(0)
            session_seq += 1
            event["broker_seq"] = session_seq  # the session's message number: arrival order
            events.append(event)
            if rng.random() < 0.02:
                events.append(dict(event, recv_ts=event["recv_ts"] + 1000, poss_dup=True))
            for _ in range(rng.randint(0, 2)):
                events.append(quote())
        if group % 5 == 0:
            parent, symbol, _ = legs[0]
            hedge_id = f"{group_id}-H"
            events.append(quote() | {"symbol": symbol})
            events.append(local("intent", hedge_id, group_id=group_id, role="hedge", parent_id=parent,
                                symbol=symbol, side="sell", qty=5))
            events.append(local("submit", hedge_id))
            events.append(broker("new", hedge_id, 0, 5))
            events.append(broker("fill", hedge_id, 5, 0, 5))
    return events[:count]


def throughput(policy, events: list[dict]) -> tuple[float, float, Engine]:
    """Events/s one at a time through :meth:`Engine.process`: (wall clock, CPU time, the engine)."""
    engine = Engine(policy)
    process = engine.process
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    for event in events:
        process(event)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(events) / elapsed, len(events) / cpu, engine


def batch_throughput(policy, events: list[dict], batch: int = 8192) -> tuple[float, float]:
    """Events/s through :meth:`Engine.process_batch` from Python lists of event dicts (decisions and alerts out)."""
    engine = Engine(policy)
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(events), batch):
        engine.process_batch(events[start:start + batch])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(events) / elapsed, len(events) / cpu


def decide_batch_throughput(policy, events: list[dict], batch: int = 8192) -> tuple[float, float]:
    """Events/s through the core's :meth:`Engine.decide_batch` (seqs, shared outcome tuples, groups, alerts)."""
    engine = Engine(policy)
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(events), batch):
        engine.decide_batch(events[start:start + batch])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(events) / elapsed, len(events) / cpu


def bulk_throughput(policy, events: list[dict], batch: int = 8192) -> float:
    """The backtest's path: :meth:`Engine.decide_stored` on events as the store gives them back (screened)."""
    stored, fields = [], []
    for event in events:
        _, broker_ts, recv_ts, named = check_event(event)
        stored.append({**event, "recv_ts": recv_ts} | ({} if broker_ts is None else {"broker_ts": broker_ts}))
        fields.append(named)
    engine = Engine(policy)
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(stored), batch):
        engine.decide_stored(stored[start:start + batch], fields[start:start + batch])
    return len(stored) / (time.perf_counter() - started)


def store_batches(events: list[dict], batch: int = 16_384) -> list:
    """The events as the store's reader hands them to the backtest: Arrow batches, one column per canonical
    field (timestamps int64 ns, numbers double, closed sets dictionary-encoded), then ``extra`` and ``ingest_id``."""
    import pyarrow as pa

    from safeguards.events import BOOL, FIELDS, INT, NUM, STR, TS

    kinds = {STR: pa.string(), INT: pa.int64(), TS: pa.int64(), NUM: pa.float64(), BOOL: pa.bool_()}
    closed = ("source", "type", "side", "role")
    stored = []
    for event in events:
        _, broker_ts, recv_ts, _ = check_event(event)
        stored.append({**event, "recv_ts": recv_ts, "broker_ts": broker_ts})
    columns = {}
    for name, kind in FIELDS.items():
        column = pa.array([e.get(name) for e in stored], kinds[kind])
        columns[name] = column.dictionary_encode() if name in closed else column
    columns["extra"] = pa.nulls(len(stored), pa.string())
    columns["ingest_id"] = pa.array([1] * len(stored), pa.int32())
    table = pa.table(columns)
    return table.to_batches(max_chunksize=batch)


def columnar_throughput(policy, events: list[dict]) -> tuple[float, float]:
    """Events/s through the core's columnar path (:meth:`Engine.decide_columns`): Arrow in, Arrow out."""
    batches = store_batches(events)
    engine = Engine(policy)
    logs: dict = {}
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        engine.decide_columns(batch, logs)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(events) / elapsed, len(events) / cpu


def latencies(policy, events: list[dict]) -> tuple[float, float, float]:
    engine = Engine(policy)
    process = engine.process
    clock = time.perf_counter_ns
    samples = [0] * len(events)
    gc.collect()
    for index, event in enumerate(events):
        t0 = clock()
        process(event)
        samples[index] = clock() - t0
    empty = [0] * 10000
    for index in range(len(empty)):  # the cost of reading the clock twice
        t0 = clock()
        empty[index] = clock() - t0
    samples.sort()
    empty.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000, empty[len(empty) // 2] / 1000


def bare_loop(events: list[dict]) -> float:
    table = {event.get("order_id"): 1 for event in events}
    seen = {event.get("event_id") for event in events[::2]}
    hits = 0
    gc.collect()
    started = time.perf_counter()
    for event in events:
        if table.get(event.get("order_id")) is not None:
            hits += 1
        if event.get("event_id") in seen:
            hits += 1
    elapsed = time.perf_counter() - started
    return len(events) / elapsed


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def dedup_memory(policy, keys: int) -> tuple[float, int]:
    """Resident memory the core adds over ``keys`` distinct broker events of one order (its dedup keys).

    The events are re-sent acks of one order (each ``stale`` after the first, no alert), so
    what grows is the idempotency guard's memory and nothing else.
    """
    engine = Engine(policy)
    template = {"source": "broker", "type": "new", "order_id": "O1", "cum_qty": 0, "leaves_qty": 1}
    engine.process(dict(template, event_id="warm", broker_ts=START, recv_ts=START))
    gc.collect()
    before = _rss_mb()
    for index in range(keys):
        stamp = START + index * 1000
        engine.process(dict(template, event_id=f"EXEC-{index:012d}", broker_ts=stamp, recv_ts=stamp))
        if index % 4096 == 0:
            engine.pop_alerts()
    engine.pop_alerts()
    gc.collect()
    return _rss_mb() - before, engine.held()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--policy", default=str(POLICY))
    parser.add_argument("--dedup-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    policy = load_policy(args.policy)
    if args.dedup_child:
        megabytes, held = dedup_memory(policy, args.dedup_child)
        print(f"{held:,} keys held, resident memory +{megabytes:.1f} MB ({megabytes * 1e6 / max(held, 1):.0f} bytes/key)")
        return
    events = make_events(args.events)
    mix: dict[str, int] = {}
    for event in events:
        mix[event["type"]] = mix.get(event["type"], 0) + 1
    print(f"python {platform.python_version()} on {platform.machine()}, policy {policy.identity}, load {os.getloadavg()}")
    print(f"events: {len(events):,}  mix: " + ", ".join(f"{k} {v}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1])))
    bare = bare_loop(events)
    print(f"bare loop (one dict lookup + one set membership per event): {bare:,.0f} events/s")
    rate, cpu_rate, engine = throughput(policy, events)
    print(f"one at a time (all five guards + escalation): {rate:,.0f} events/s wall, {cpu_rate:,.0f} CPU"
          f"  verdicts {dict((k, v) for k, v in engine.counts.items() if v)}, alerts {len(engine.pop_alerts())}")
    print(f"  / bare loop: {rate / bare:.3f}")
    wall, cpu = batch_throughput(policy, events)
    print(f"process_batch from Python lists of dicts: {wall:,.0f} events/s wall, {cpu:,.0f} CPU")
    wall, cpu = decide_batch_throughput(policy, events)
    print(f"decide_batch from Python lists of dicts (outcome tuples, no dict per decision): "
          f"{wall:,.0f} events/s wall, {cpu:,.0f} CPU")
    print(f"the backtest's bulk path (decide_stored, screened events): {bulk_throughput(policy, events):,.0f} events/s")
    wall, cpu = columnar_throughput(policy, events)
    print(f"the backtest's columnar path (decide_columns, Arrow batches in and out): "
          f"{wall:,.0f} events/s wall, {cpu:,.0f} CPU")
    p50, p99, clock_cost = latencies(policy, events)
    print(f"per-event latency: p50 {p50:.2f} us, p99 {p99:.2f} us (includes ~{clock_cost:.2f} us of timer reads)")
    # in a fresh process: memory this one freed would hide the core's
    child = subprocess.run([sys.executable, __file__, "--dedup-child", str(args.keys), "--policy", args.policy],
                           capture_output=True, text=True, check=True)
    print(f"dedup memory: {child.stdout.strip()}")

if __name__ == "__main__":
    main()
