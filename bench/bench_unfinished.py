"""Memory held by orders that never finish (issue 15 item 9), before and after the book's bound.

A figure, not a test. Run from the repository root:

    .venv/bin/python bench/bench_unfinished.py [--orders 1000000] [--bounds 2000000,100000]

Each run is a fresh process that feeds the compiled core (:class:`safeguards.Engine`, the
reference policy with ``idempotency.max_keys`` set to the bound) ``--orders`` events of one
kind, in batches of 10,000 whose alerts are taken as they come (so that what is measured is
what the engine holds, not an alert buffer), then prints its RSS (``VmRSS``) and peak
(``VmHWM``), the orders and dedup keys the engine holds, and the alerts by kind:

- ``broker``: a broker ``new`` for an order nobody recorded (each one an orphan, adopted);
- ``intents``: an intent that is never submitted nor acknowledged.

A bound of at least ``--orders`` evicts nothing: the engine as it was before the bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_771_684_200 * 1_000_000_000  # 2026-02-21T14:30:00Z


def _status(field: str) -> int:
    """A /proc/self/status figure in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return -1


def event(kind: str, n: int) -> dict:
    at = T0 + n * 1_000  # a microsecond apart: far within any retention
    if kind == "broker":
        return {"source": "broker", "type": "new", "event_id": f"E{n}", "order_id": f"o{n}", "cum_qty": 0,
                "leaves_qty": 10, "broker_ts": at, "recv_ts": at + 500}
    return {"source": "local", "type": "intent", "event_id": f"I{n}", "order_id": f"o{n}", "group_id": f"g{n}",
            "role": "leg", "symbol": "SPX", "side": "buy", "qty": 10, "recv_ts": at}


def child(kind: str, orders: int, bound: int) -> None:
    """Feed the core and print one JSON line of figures."""
    import yaml

    from safeguards import Engine
    from safeguards.policy import compile_text

    data = yaml.safe_load((ROOT / "rules" / "multileg_options.yaml").read_text("utf-8"))
    data["idempotency"]["max_keys"] = bound
    engine = Engine(compile_text(yaml.safe_dump(data, sort_keys=False), "<bench policy>"))
    start = _status("VmRSS")
    alerts: dict[str, int] = {}
    for first in range(0, orders, 10_000):
        _, raised = engine.process_batch([event(kind, n) for n in range(first, min(first + 10_000, orders))])
        for alert in raised:
            alerts[alert["kind"]] = alerts.get(alert["kind"], 0) + 1
    held_orders, held_keys = engine.held()
    print(json.dumps({"kind": kind, "orders": orders, "bound": bound, "rss_start_mb": start,
                      "rss_mb": _status("VmRSS"), "peak_mb": _status("VmHWM"), "held_orders": held_orders,
                      "held_keys": held_keys, "alerts": alerts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--bounds", default="2000000,100000")
    parser.add_argument("--kinds", default="broker,intents")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    print(f"load: {os.getloadavg()}; {args.orders:,} events per run")
    for kind in args.kinds.split(","):
        for bound in (int(b) for b in args.bounds.split(",")):
            done = subprocess.run([sys.executable, __file__, "--child", kind, str(args.orders), str(bound)],
                                  capture_output=True, text=True, cwd=ROOT)
            if done.returncode:
                print(done.stderr[-2000:])
                continue
            got = json.loads(done.stdout.splitlines()[-1])
            print(f"{kind:8} bound {bound:>9,}: RSS {got['rss_start_mb']:>5,} -> {got['rss_mb']:>5,} MB "
                  f"(peak {got['peak_mb']:,}), held {got['held_orders']:,} orders, {got['held_keys']:,} dedup keys; "
                  f"alerts {got['alerts']}", flush=True)
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
