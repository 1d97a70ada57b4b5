"""Score an engine run against a simulated log's labels: recall per fault kind, unexplained alerts.

A label is *detected* when every expectation it carries holds (the decision of
event ``seq`` has the labelled verdict, and an alert of the labelled kind has the
label's ``seq`` or ``order_id``), or when some safeguard acted on the fault in
another way: the labelled event was not accepted, or an alert was raised at it
(escalation included). A stricter policy than the one the labels were written for
stops a fault earlier or otherwise, and that is a catch, not a miss.

An alert is *explained* when some label expects it (by kind and seq or order),
when it is the escalation (``halted``, ``reducing``) some label says its fault
causes, or when it is about an order this run blocked at its intent: the log was
recorded by a system that let that order through, so the broker's answers to it
exist only because of that, and are not false alarms of the stricter run. Every
other alert is a false alarm. On a clean log (no labels) every alert is one,
except those about orders the run blocked.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import Engine

ESCALATIONS = ("halted", "reducing")


@dataclass
class Score:
    labelled: Counter = field(default_factory=Counter)
    detected: Counter = field(default_factory=Counter)
    missed: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    unexplained: list[dict] = field(default_factory=list)
    alerts: int = 0
    #: Labels detected by another action than the labelled one (see the module docstring), per fault kind.
    otherwise: Counter = field(default_factory=Counter)
    #: Alerts explained as the broker's answers to orders this run blocked at their intent.
    after_block: int = 0

    def recall(self, fault: str) -> float:
        n = self.labelled[fault]
        return self.detected[fault] / n if n else 1.0


def read_jsonl(path: str | Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def run_engine(events: Iterable[dict], policy: str | Path) -> tuple[dict[int, dict], list[dict]]:
    """Decisions by seq and all alerts of one pass of ``events`` through a fresh engine."""
    engine = Engine(policy)
    decisions: dict[int, dict] = {}
    alerts: list[dict] = []
    for event in events:
        decision = engine.process(event)
        decisions[decision["seq"]] = decision
        if engine.book.alerts:
            alerts.extend(engine.pop_alerts())
    alerts.extend(engine.pop_alerts())
    return decisions, alerts


def score(labels: list[dict[str, Any]], decisions: dict[int, dict], alerts: list[dict],
          blocked: Iterable[tuple[Any, Any]] = ()) -> Score:
    """``blocked``: (order_id, group_id) of the orders whose intent this run blocked or rejected."""
    result = Score(alerts=len(alerts))
    blocked_orders = {order for order, _ in blocked}
    blocked_groups = {group for _, group in blocked if group is not None}
    by_seq: dict[tuple[str, Any], list[dict]] = defaultdict(list)
    by_order: dict[tuple[str, Any], list[dict]] = defaultdict(list)
    by_any_seq: dict[Any, list[dict]] = defaultdict(list)
    for alert in alerts:
        by_seq[alert["kind"], alert["seq"]].append(alert)
        by_any_seq[alert["seq"]].append(alert)
        if alert["order_id"] is not None:
            by_order[alert["kind"], alert["order_id"]].append(alert)
    explained: set[int] = set()
    halted_scopes: set[Any] = set()
    reducing = False
    for label in labels:
        fault = label["fault"]
        result.labelled[fault] += 1
        ok = True
        if label["verdict"] is not None:
            decision = decisions.get(label["seq"])
            ok = decision is not None and decision["verdict"] == label["verdict"]
        if label["alert"] is not None:
            found = by_seq.get((label["alert"], label["seq"]), []) + by_order.get((label["alert"], label["order_id"]), [])
            explained.update(id(a) for a in found)
            ok = ok and bool(found)
        if label["escalates"] == "halted":
            halted_scopes.update((label["group_id"], label["order_id"]))
        elif label["escalates"] == "reducing":
            reducing = True
        if not ok:
            decision = decisions.get(label["seq"])
            if (decision is not None and decision["verdict"] != "accept") or by_any_seq.get(label["seq"]):
                ok = True
                result.otherwise[fault] += 1
                explained.update(id(a) for a in by_any_seq.get(label["seq"], []))
        if ok:
            result.detected[fault] += 1
        else:
            result.missed[fault].append(label)
    for alert in alerts:
        if id(alert) in explained:
            continue
        if alert["kind"] == "halted" and (alert["group_id"] in halted_scopes or alert["order_id"] in halted_scopes):
            continue
        if alert["kind"] == "reducing" and reducing:
            continue
        if alert["order_id"] in blocked_orders or (alert["kind"] == "halted" and alert["group_id"] in blocked_groups):
            result.after_block += 1
            continue
        result.unexplained.append(alert)
    return result
