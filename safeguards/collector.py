"""CPython's garbage collector, tuned for a long stream of short-lived dicts.

The engine's loops (a backtest's replay, the sidecar) allocate a few dicts per
event (the event, its decision) that plain reference counting frees. With
CPython's default threshold the collector runs every 700 allocations and each
run walks every young object: measured on bench_engine's stream, a threshold of
100,000 makes the loop 5-18% faster and its tail shorter (p99.99 of one event:
332 -> 80 us), because collections come rarely instead of in the middle of
every few hundred events. Cycles are still collected, in rarer sweeps, so
memory stays flat.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between young-generation collections (CPython's default is 700).
GC_THRESHOLD = 100_000


@contextmanager
def rare_collections() -> Iterator[None]:
    """Collect the young generation rarely inside this block; the previous thresholds after."""
    before = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
