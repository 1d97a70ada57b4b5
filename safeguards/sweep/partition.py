"""Partitioned backtests: one policy over a large store, split into parts that share no engine state.

The smallest part is a log: within one log the accounts share a broker session
(its message numbers, its clock, the broker time that fires every timer). Logs
go into one part when the policy's state could reach from one to the other:

- they share an account, an order or a group (the order book, duplicates, escalation of a group);
- their times come within the policy's reach of each other (the longest of its timeouts,
  ``hedging.max_unhedged``, ``quote_max_age``, an escalation's ``clear_after``, plus the clock
  tolerances): one log's quotes, clock and pending timers would act on the other's events.

And the whole store is one part when the policy holds state across all logs:
an escalation rule of scope ``all`` (one alert halts everyone's trading),
duplicates keyed without ``account`` (an event id repeats across accounts), or
more events than ``idempotency.max_keys`` (which keys are evicted depends on
every log's). Parts are runs of logs in time order, balanced by events.

In a single run, timers an earlier log leaves pending fire at the first event of
the next; so each part's replay also takes that one event (its *tail*), keeps the
alerts the tail raised about the part's own orders and groups (and the
"resumed" alerts of its own clearing escalations, which name none), and drops the
tail's decision (the next part decides it). Merged, the parts give the single
run's ``decisions.parquet`` and ``alerts.parquet`` (checked by a test), and the
summary, scoring and evidence are made from the merged outputs.

Each part reads only its own data: its worker exports the part's logs (and its
tail) from the store by path into the part's folder as Parquet and backtests
that (:mod:`.exports`); what comes back to the driver is each part's summary of
its logs, then the merged evidence and summary.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..backtest.audit import EVIDENCE_FORMAT, METRICS_FILE, keep_labels
from ..backtest.replay import open_run_folder, run_backtest
from ..backtest.scoring import LabelTracker, dataset_kind, labelled_log, metrics, read_labels, scoring_document
from ..backtest.sink import ALERT_COLUMNS, DECISIONS_SCHEMA, DICTIONARY_COLUMNS
from ..backtest.source import EventSource
from ..backtest.summary import summarize
from ..errors import UsageError
from ..events import DEFAULT_ACCOUNT, format_timestamp
from ..gates import GateReport, gate_report
from ..policy import CompiledPolicy, format_duration, load_policy
from ..store.rows import one_row
from .cluster import Cluster, release
from .exports import Selection, export_store, scratch_store
from .run import Dataset, describe_error
from .tasks import SCRATCH

PLAN = "partitions.json"


@dataclass(frozen=True)
class Part:
    """One part: its logs (ingest ids), its events, and the next part's first event, which fires its leftover timers."""

    logs: tuple[int, ...]
    events: int
    tail: tuple[int, int, int] | None = None  # (ingest_id, seq, row_number)


@dataclass
class PartitionPlan:
    """How a store splits for a policy: the parts, and why it splits no further."""

    parts: list[Part]
    reasons: list[str] = field(default_factory=list)  # the policy's features that keep the store in one part
    notes: list[str] = field(default_factory=list)  # why the data gives fewer parts than asked

    def describe(self) -> dict[str, Any]:
        return {"parts": [{"logs": list(p.logs), "events": p.events, "tail": list(p.tail) if p.tail else None}
                          for p in self.parts], "one_part_because": self.reasons, "fewer_parts_because": self.notes}

    def explain(self) -> list[str]:
        """The plan as a person reads it: the parts, and why there are not more."""
        sizes = " | ".join(f"{_logs_text(p.logs)}: {p.events:,} events" for p in self.parts)
        lines = [f"{len(self.parts)} part{'s' if len(self.parts) != 1 else ''} ({sizes})"]
        lines += [f"one part: {reason}" for reason in self.reasons]
        lines += [f"fewer parts: {note}" for note in self.notes]
        return lines


def _logs_text(logs: tuple[int, ...]) -> str:
    return f"log {logs[0]}" if len(logs) == 1 else f"logs {', '.join(map(str, logs))}"


def policy_reach_ns(policy: CompiledPolicy) -> int:
    """The longest span of broker time over which the policy's state acts on later events."""
    clock, hedging = policy["clock"], policy["hedging"]
    spans = [t for t in clock["timeouts_ns"].values() if t]
    spans += [hedging["max_unhedged_ns"], hedging["quote_max_age_ns"]]
    spans += [rule["clear_after_ns"] for rule in policy["escalation"] if rule["clear_after_ns"]]
    return max(spans) + clock["max_skew_ns"] + clock["future_tolerance_ns"] + clock["offset_window_ns"]


def whole_store_reasons(policy: CompiledPolicy, events: int) -> list[str]:
    """The policy's features that make any split inexact, each said as a person would."""
    reasons = []
    for rule in policy["escalation"]:
        if rule["scope"] == "all":
            reasons.append(f"escalation rule {rule['id']} has scope all: one alert changes every log's trading")
    if "account" not in policy["idempotency"]["key"]:
        reasons.append("idempotency.key has no account: duplicates are recognised across accounts")
    if events >= policy["idempotency"]["max_keys"]:
        reasons.append(f"{events:,} events reach idempotency.max_keys ({policy['idempotency']['max_keys']:,}): "
                       "which keys are evicted depends on every log's")
    return reasons


def plan_partitions(policy: CompiledPolicy | str | Path, db: str | Path, parts: int) -> PartitionPlan:
    """Split the store ``db`` into at most ``parts`` parts that share no state under ``policy``."""
    policy = policy if isinstance(policy, CompiledPolicy) else load_policy(policy)
    if parts < 1:
        raise UsageError(f"--partitions {parts}: give 1 or more")
    Dataset("history", Path(db)).digest()  # the store is there and is one
    con = duckdb.connect(str(db), read_only=True)
    try:
        logs = con.execute("""
            SELECT ingest_id, count(*), least(min(epoch_ns(recv_ts)), min(epoch_ns(broker_ts))),
                   greatest(max(epoch_ns(recv_ts)), max(epoch_ns(broker_ts)))
            FROM events GROUP BY 1 ORDER BY 3, 1""").fetchall()
        shared = con.execute(f"""
            WITH keys AS (
                SELECT DISTINCT ingest_id, 'a' || coalesce(account, '{DEFAULT_ACCOUNT}') AS k FROM events WHERE source <> 'market'
                UNION SELECT DISTINCT ingest_id, 'o' || order_id FROM events WHERE order_id IS NOT NULL
                UNION SELECT DISTINCT ingest_id, 'g' || group_id FROM events WHERE group_id IS NOT NULL)
            SELECT DISTINCT a.ingest_id, b.ingest_id FROM keys a JOIN keys b ON a.k = b.k AND a.ingest_id < b.ingest_id
            """).fetchall()
        total = sum(row[1] for row in logs)
        reasons = whole_store_reasons(policy, total)
        if reasons or parts == 1 or len(logs) == 1:
            notes = (["the store holds one log, the smallest part (its accounts share one broker session)"]
                     if len(logs) == 1 and parts > 1 and not reasons else [])
            return PartitionPlan([Part(tuple(row[0] for row in logs), total)], reasons, notes)
        # Union-find over logs: shared keys, and times within the policy's reach.
        parent = {row[0]: row[0] for row in logs}

        def root(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in shared:
            parent[root(a)] = root(b)
        reach, horizon, last = policy_reach_ns(policy), None, None
        for ingest_id, _, first, end in logs:
            if horizon is not None and first - horizon <= reach:
                parent[root(ingest_id)] = root(last)
            if horizon is None or end > horizon:
                horizon, last = end, ingest_id
        # Components in time order; merged into at most `parts` runs of whole components.
        components: dict[int, list[tuple[int, int, int]]] = {}
        for ingest_id, count, first, end in logs:
            components.setdefault(root(ingest_id), []).append((ingest_id, count, first))
        ordered = sorted(components.values(), key=lambda c: min(first for _, _, first in c))
        # Only components in time order, one after another, can be parts (the tail event joins neighbours).
        groups: list[list[int]] = []
        target = total / parts
        counts: list[int] = []
        for component in ordered:
            size = sum(count for _, count, _ in component)
            if groups and (counts[-1] + size / 2 <= target or len(groups) == parts):
                groups[-1].extend(i for i, _, _ in component)
                counts[-1] += size
            else:
                groups.append([i for i, _, _ in component])
                counts.append(size)
        result = []
        for index, (group, count) in enumerate(zip(groups, counts)):
            tail = None
            if index + 1 < len(groups):
                first_log = groups[index + 1][0]
                seq, row = one_row(con, "SELECT seq, row_number FROM events WHERE ingest_id = ? "
                                        "ORDER BY seq, row_number LIMIT 1", [first_log])
                tail = (first_log, seq, row)
            result.append(Part(tuple(group), count, tail))
        notes = []
        if len(ordered) < parts:
            notes.append(f"{len(logs)} logs make {len(ordered)} independent set{'s' if len(ordered) != 1 else ''}: "
                         "logs that share an account, an order or a group, or come within "
                         f"{format_duration(reach)} of each other (the policy's reach in broker time), stay together")
        elif len(result) < parts:
            notes.append(f"{len(ordered)} independent sets of logs, balanced by events into {len(result)} parts")
        return PartitionPlan(result, [], notes)
    finally:
        con.close()


def part_task(policy_text: str, db: str, part: dict[str, Any], out: str) -> dict[str, Any]:
    """Backtest one part where the worker is: the part's own events (and its tail), exported from ``db`` by path.

    The worker reads only the part's rows of the shared store (read-only) into a
    Parquet export in the part's folder, and backtests a scratch store over it;
    only the part's summary of its logs and its time come back to the driver.
    """
    from ..policy import CompiledPolicy as Compiled

    policy = Compiled.from_json(policy_text)
    out_dir = Path(out)
    open_run_folder(out_dir)
    scratch = out_dir / SCRATCH
    try:
        selection = Selection(tuple(part["logs"]), tuple(part["tail"]) if part["tail"] else None)
        export_store(db, scratch / "export", selection)
        result = run_backtest(policy, out_dir, db=scratch_store(scratch / "export", scratch / Path(db).name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"logs": result.summary.get("logs", []), "seconds": round(result.seconds, 3)}


def merge_task(policy_text: str, db: str, labels: str | None, plan: dict[str, Any], out: str,
               started_at: str, seconds: float) -> dict[str, Any]:
    """Merge the parts' outputs into one run folder, as a single backtest of the whole store writes it."""
    from ..policy import CompiledPolicy as Compiled

    started = time.perf_counter()
    policy = Compiled.from_json(policy_text)
    out_dir = Path(out)
    parts = [out_dir / "parts" / f"{i:03d}" for i in range(len(plan["parts"]))]
    decisions_path, alerts_path = out_dir / "decisions.parquet", out_dir / "alerts.parquet"
    alert_tables, critical = [], 0
    with pq.ParquetWriter(decisions_path, DECISIONS_SCHEMA, compression="zstd", use_dictionary=DICTIONARY_COLUMNS) as writer:
        for folder, part in zip(parts, plan["parts"]):
            own = pa.array(part["logs"], pa.int32())
            for batch in pq.ParquetFile(folder / "decisions.parquet").iter_batches(65_536):
                mine = pc.is_in(batch.column("ingest_id"), value_set=own)
                writer.write_batch(batch if mine.true_count == batch.num_rows else batch.filter(mine))
            alerts = pq.read_table(folder / "alerts.parquet")
            if part["tail"]:  # the tail's alerts that are about this part: its leftover timers
                decisions = pq.read_table(folder / "decisions.parquet", columns=["ingest_id", "order_id", "group_id"])
                mine = decisions.filter(pc.is_in(decisions.column("ingest_id"), value_set=own))
                orders, groups = pc.unique(mine.column("order_id")), pc.unique(mine.column("group_id"))
                no_order = pc.is_null(alerts.column("order_id"))
                about_mine = pc.or_(
                    pc.or_(pc.fill_null(pc.is_in(alerts.column("order_id"), value_set=orders), False),
                           pc.and_(no_order, pc.fill_null(pc.is_in(alerts.column("group_id"), value_set=groups), False))),
                    # A clear of this part's session escalation fires at the tail; the tail's own log has none yet.
                    pc.and_(pc.and_(no_order, pc.is_null(alerts.column("group_id"))),
                            pc.equal(alerts.column("kind"), "resumed")))
                alerts = alerts.filter(pc.or_(pc.is_in(alerts.column("ingest_id"), value_set=own), about_mine))
            alert_tables.append(alerts)
    merged_alerts = pa.concat_tables(alert_tables, promote_options="permissive") if alert_tables else None
    if merged_alerts is None or not merged_alerts.num_rows:
        merged_alerts = pq.read_table(parts[0] / "alerts.parquet").slice(0, 0)
    pq.write_table(merged_alerts, alerts_path, compression="zstd")
    critical = pc.sum(pc.equal(merged_alerts.column("severity"), "critical")).as_py() or 0
    events = pq.ParquetFile(decisions_path).metadata.num_rows
    invalid_decisions = sum(pc.sum(pc.equal(b.column("verdict"), "invalid")).as_py() or 0
                            for b in pq.ParquetFile(decisions_path).iter_batches(65_536, columns=["verdict"]))
    con = duckdb.connect(db, read_only=True)
    try:
        digests = [row[0] for row in con.execute("SELECT sha256 FROM ingests ORDER BY ingest_id").fetchall()]
        rejected = one_row(con, "SELECT count(*) FROM rejected_rows")[0]
        first, last = one_row(con, "SELECT epoch_ns(min(broker_ts)), epoch_ns(max(broker_ts)) FROM events")
        label_rows = read_labels(labels) if labels else None
        label_log = labelled_log(con, label_rows, labels) if label_rows is not None and labels else None
    finally:
        con.close()
    score = None
    if label_rows is not None:
        tracker = LabelTracker(label_rows, label_log if len(digests) > 1 else None)
        tracker.alerts.extend(_alerts_as_raised(merged_alerts))
        for batch in pq.ParquetFile(decisions_path).iter_batches(65_536):
            tracker.observe(batch, [])
        score = tracker.score()
    scoring = scoring_document(score, policy.tables) if score is not None else None
    body = metrics(events, merged_alerts.num_rows, critical, invalid_decisions + rejected, score)
    source = EventSource(None, Path(db), db, digests)  # type: ignore[arg-type]
    dataset = {"kind": dataset_kind(score) if label_rows is not None else "unlabeled", "source": db,
               "digest": source.digest, "events": events,
               "broker_span_ns": last - first if first is not None and last is not None else None,
               "labels": labels, "window": source.window.describe()}
    if labels:
        dataset["labels_sha256"] = keep_labels(Path(labels), out_dir)
    gates = gate_report(policy.identity, policy["promotion"]["gates"], [{"dataset": dataset, "metrics": body}])
    run_id = f"{policy.name}-v{policy.version}-{policy.hash[:12]}-partitioned-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    policy_block = {"identity": policy.identity, "hash": policy.hash, "name": policy.name, "version": policy.version}
    total_seconds = seconds + time.perf_counter() - started
    evidence = {"evidence_format": EVIDENCE_FORMAT, "policy": policy_block, "dataset": dataset, "metrics": body,
                "gates": [{"id": g.gate_id, "passed": g.passed, "detail": g.detail} for g in gates.results],
                "run": {"id": run_id, "made_by": "safeguards partitioned backtest", "started_at": started_at,
                        "seconds": round(total_seconds, 3), "partitions": plan}}
    logs = [log for part in plan["parts"] for log in part["summary_logs"]]
    summary = {"run_id": run_id, "policy": policy_block, "data": {**dataset, "rejected_on_ingest": rejected,
                                                                   "database": db},
               "logs": logs, "partitions": plan, **summarize(decisions_path, alerts_path)}
    if scoring is not None:
        summary["scoring"] = {k: scoring[k] for k in ("by_fault_kind", "false_alerts_by_kind", "assumptions",
                                                      "alerts_after_block")}
        summary["scoring"]["listed_in"] = "scoring.json"
        (out_dir / "scoring.json").write_text(json.dumps(scoring, indent=2, default=str) + "\n", "utf-8")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", "utf-8")
    (out_dir / METRICS_FILE).write_text(json.dumps(evidence, indent=2, default=str) + "\n", "utf-8")
    # Small documents only go back to the driver: scoring.json's lists of every missed fault and false alert stay here.
    return {"evidence": evidence, "summary": summary, "scoring": summary.get("scoring")}


#: ``progress(parts_done, parts_total, events_done)``; called once before the first part ends and as each ends.
PartitionProgress = Callable[[int, int, int], None]


def _alerts_as_raised(alerts: pa.Table) -> list[dict[str, Any]]:
    """Stored alerts as the engine raised them, the dicts scoring reads (``broker_ts`` as RFC 3339 text)."""
    column = alerts.schema.get_field_index("broker_ts")
    as_ns = alerts.set_column(column, "broker_ts", pc.cast(alerts.column(column), pa.int64()))
    return [{**row, "broker_ts": format_timestamp(row["broker_ts"]) if row["broker_ts"] is not None else None}
            for row in as_ns.to_pylist()]


@dataclass
class PartitionedResult:
    """What a partitioned backtest wrote, shaped like a single run's result (what the command prints)."""

    out_dir: Path
    plan: PartitionPlan
    evidence: dict[str, Any]
    summary: dict[str, Any]
    seconds: float
    gates: GateReport
    #: The figures per fault kind (the summary's part of ``scoring.json``, which lists every missed fault and false alert).
    scoring: dict[str, Any] | None = None
    comparison: None = None  # a partitioned run compares with no other policy


def run_partitioned(policy: CompiledPolicy | str | Path, db: str | Path, out: str | Path, *, parts: int = 4,
                    labels: str | Path | None = None, workers: int | None = None,
                    ray_address: str | None = None, plan: PartitionPlan | None = None,
                    progress: PartitionProgress | None = None) -> PartitionedResult:
    """Backtest ``policy`` on ``db`` split into at most ``parts`` independent parts on Ray; merge into ``out``.

    ``out`` gets what a single backtest writes (decisions, alerts, summary,
    scoring with labels, metrics), the parts' own run folders under ``out/parts``
    and the plan in ``partitions.json``. ``plan``: the one :func:`plan_partitions`
    made for this policy and store, when the caller showed it first.
    """
    started, started_at = time.perf_counter(), datetime.now(UTC).isoformat()
    cluster = Cluster.choose(workers, ray_address)
    began = cluster.start()  # Ray starts while the driver loads the policy and plans the parts
    try:
        policy = policy if isinstance(policy, CompiledPolicy) else load_policy(policy)
        db = str(Path(db).resolve())
        plan = plan if plan is not None else plan_partitions(policy, db, parts)
        out_dir = Path(out).resolve()
        open_run_folder(out_dir)
    except BaseException:
        if began:
            release()  # no task will run: the runtime begun for them goes
        raise
    shutil.rmtree(out_dir / "parts", ignore_errors=True)
    described = plan.describe()
    tasks = [(policy.to_json(), db, part, str(out_dir / "parts" / f"{i:03d}"))
             for i, part in enumerate(described["parts"])]
    done, events = 0, 0
    if progress is not None:
        progress(done, len(tasks), events)
    for task, result, error in cluster.map(part_task, tasks):
        if error is not None:
            raise UsageError(f"partition {Path(task[-1]).name} (logs {task[2]['logs']}) failed: {describe_error(error)}")
        own = set(task[2]["logs"])
        task[2]["summary_logs"] = [log for log in result["logs"] if log["ingest_id"] in own]
        done, events = done + 1, events + task[2]["events"]
        if progress is not None:
            progress(done, len(tasks), events)
    (out_dir / PLAN).write_text(json.dumps(described, indent=2) + "\n", "utf-8")
    merge = (policy.to_json(), db, str(Path(labels).resolve()) if labels else None, described, str(out_dir),
             started_at, time.perf_counter() - started)
    ((_, merged, error),) = list(cluster.map(merge_task, [merge]))
    if error is not None:
        raise UsageError(f"merging the partitions failed: {describe_error(error)}")
    gates = gate_report(policy.identity, policy["promotion"]["gates"], [merged["evidence"]])
    return PartitionedResult(out_dir, plan, merged["evidence"], merged["summary"], time.perf_counter() - started,
                             gates, merged["scoring"])
