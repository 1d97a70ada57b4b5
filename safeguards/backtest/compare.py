"""Comparing two policies on the same events: which verdicts change, which alerts appear or vanish.

Both engines see each batch in the same pass, so the comparison streams like
the replay: differences are written in Parquet parts and merged at the end.
Alerts are matched by (kind, seq, order_id, group_id): the same alert raised
at the same event about the same order by both policies is "unchanged".
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..policy import CompiledPolicy
from ..policy.diff import diff_policies
from ..policy.durations import Span, format_duration
from .sink import sql_text

EXAMPLES = 20
_TEXT, _INT = pa.string(), pa.int64()
_CHANGE_SCHEMA = pa.schema([(name, _INT if name == "seq" else _TEXT) for name in (
    "seq", "event_id", "order_id", "group_id", "type", "verdict_a", "verdict_b", "guard_a", "guard_b", "reason_a", "reason_b")])
_ALERT_SCHEMA = pa.schema([(name, _INT if name == "seq" else _TEXT) for name in (
    "change", "kind", "severity", "guard", "seq", "order_id", "group_id", "broker_ts", "detail")])


_CHANGE_FROM_A = ["seq", "event_id", "order_id", "group_id", "type", "verdict", "guard", "reason"]
_CHANGE_FROM_B = ["verdict", "guard", "reason"]


def _key(alert: dict[str, Any]) -> tuple:
    return alert["kind"], alert.get("ingest_id"), alert["seq"], alert["order_id"], alert["group_id"]


class Parts:
    """Rows appended in memory and flushed to numbered Parquet parts; merged into one file at the end."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema, flush_at: int = 65_536) -> None:
        self.folder, self.name, self.schema, self.flush_at = folder, name, schema, flush_at
        self.rows: list[dict[str, Any]] = []
        self.files: list[Path] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.flush_at:
            self.flush()

    def flush(self) -> None:
        if self.rows or not self.files:
            path = self.folder / f"{self.name}-{len(self.files):06d}.parquet"
            pq.write_table(pa.Table.from_pylist(self.rows, schema=self.schema), path)
            self.files.append(path)
            self.rows = []

    def merge(self, con: duckdb.DuckDBPyConnection, target: Path, order: str) -> None:
        self.flush()
        files = "[" + ", ".join(sql_text(p) for p in self.files) + "]"
        con.execute(f"COPY (SELECT * FROM read_parquet({files}) ORDER BY {order}) TO {sql_text(target)} (FORMAT PARQUET)")


class Comparison:
    """Accumulates the differences between policy A (the one backtested) and B (``--compare``)."""

    def __init__(self, out_dir: Path, policy_a: str, policy_b: str) -> None:
        self.out_dir = out_dir
        self.policy_a, self.policy_b = policy_a, policy_b
        self.scratch = out_dir / ".compare-parts"
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        self.changes = Parts(self.scratch, "changes", _CHANGE_SCHEMA)
        self.alerts = Parts(self.scratch, "alerts", _ALERT_SCHEMA)
        self.transitions: Counter = Counter()
        self.appeared: Counter = Counter()
        self.vanished: Counter = Counter()
        self.examples: list[dict[str, Any]] = []
        self.alert_examples: list[dict[str, Any]] = []
        self.events = 0

    def observe(self, decisions_a: pa.RecordBatch, decisions_b: pa.RecordBatch,
                alerts_a: list[dict], alerts_b: list[dict]) -> None:
        """One batch's decisions by A and by B (:func:`~.sink.decisions_batch`, same events) and their alerts."""
        self.events += decisions_a.num_rows
        changed = pc.not_equal(decisions_a.column("verdict"), decisions_b.column("verdict"))
        if changed.true_count:
            a_rows = decisions_a.filter(changed).select(_CHANGE_FROM_A).to_pylist()
            b_rows = decisions_b.filter(changed).select(_CHANGE_FROM_B).to_pylist()
            for a, b in zip(a_rows, b_rows):
                row = {"seq": a["seq"], "event_id": a["event_id"], "order_id": a["order_id"], "group_id": a["group_id"],
                       "type": a["type"], "verdict_a": a["verdict"], "verdict_b": b["verdict"], "guard_a": a["guard"],
                       "guard_b": b["guard"], "reason_a": a["reason"], "reason_b": b["reason"]}
                self.transitions[f"{a['verdict']} -> {b['verdict']}"] += 1
                self.changes.add(row)
                if len(self.examples) < EXAMPLES:
                    self.examples.append(row)
        if not alerts_a and not alerts_b:
            return
        keys_a, keys_b = Counter(map(_key, alerts_a)), Counter(map(_key, alerts_b))
        for change, alerts, extra in (("vanished", alerts_a, keys_a - keys_b), ("appeared", alerts_b, keys_b - keys_a)):
            for alert in alerts:
                key = _key(alert)
                if extra[key] <= 0:
                    continue
                extra[key] -= 1
                (self.vanished if change == "vanished" else self.appeared)[alert["kind"]] += 1
                row = {"change": change, **{k: alert.get(k) for k in _ALERT_SCHEMA.names if k != "change"}}
                row = {k: (v if v is None or k == "seq" or isinstance(v, str) else str(v)) for k, v in row.items()}
                self.alerts.add(row)
                if len(self.alert_examples) < EXAMPLES:
                    self.alert_examples.append(row)

    def finish(self, con: duckdb.DuckDBPyConnection, why_the_same: list[str] | None = None) -> dict[str, Any]:
        """Write ``verdict_changes.parquet``, ``alert_changes.parquet`` and ``comparison.json``.

        ``why_the_same``: what to say if nothing differs (see :func:`why_nothing_differs`).
        """
        self.changes.merge(con, self.out_dir / "verdict_changes.parquet", "seq")
        self.alerts.merge(con, self.out_dir / "alert_changes.parquet", "seq, change, kind")
        shutil.rmtree(self.scratch, ignore_errors=True)
        document = {
            "a": self.policy_a, "b": self.policy_b, "events": self.events,
            "verdict_changes": sum(self.transitions.values()),
            "verdict_transitions": dict(sorted(self.transitions.items())),
            "alerts_appeared": dict(sorted(self.appeared.items())),
            "alerts_vanished": dict(sorted(self.vanished.items())),
            "first_verdict_changes": self.examples,
            "first_alert_changes": self.alert_examples,
            "why_nothing_differs": (why_the_same or []) if not (self.transitions or self.appeared or self.vanished) else [],
            "files": {"verdict_changes": "verdict_changes.parquet", "alert_changes": "alert_changes.parquet"},
        }
        (self.out_dir / "comparison.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
        return document

    def discard(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def why_nothing_differs(a: CompiledPolicy, b: CompiledPolicy, span_ns: int | None) -> list[str]:
    """For each change from A to B, why it decided no event differently here: a window longer than the data, or unreached."""
    reasons = []
    for change in diff_policies(a, b):
        if change.where.startswith("metadata."):
            continue
        spans = [value.nanos for value in (change.old, change.new) if isinstance(value, Span)]
        if spans and span_ns is not None and all(nanos is None or nanos > span_ns for nanos in spans):
            reasons.append(f"{change.render()}: both longer than the {_about(span_ns)} of broker time "
                           "the data spans, so no event here can tell them apart")
        else:
            reasons.append(f"{change.render()}: no event in this data reached it")
    return reasons or ["the two versions mean the same (no change of meaning)"]


def _about(nanos: int) -> str:
    """A span to the second (to the millisecond under a second): 2m31s, not 2m31s518702us."""
    unit = 1_000_000_000 if nanos >= 1_000_000_000 else 1_000_000
    return format_duration(max(nanos // unit, 1) * unit)


def render(document: dict[str, Any]) -> str:
    """A few lines for the terminal: how much changed, and how."""
    lines = [f"compare {document['a']} (A) with {document['b']} (B) on {document['events']:,} events:",
             f"  {document['verdict_changes']:,} events get a different verdict"]
    lines += [f"    {transition}: {n:,}" for transition, n in document["verdict_transitions"].items()]
    for change in ("appeared", "vanished"):
        counts = document[f"alerts_{change}"]
        total = sum(counts.values())
        detail = ", ".join(f"{kind} {n:,}" for kind, n in counts.items())
        lines.append(f"  {total:,} alerts {change} with B" + (f" ({detail})" if detail else ""))
    if document.get("why_nothing_differs"):
        lines.append("  nothing differs on this data; why, change by change:")
        lines += [f"    {reason}" for reason in document["why_nothing_differs"]]
    return "\n".join(lines)
