"""The backtest: replay stored events in arrival order through the production engine, and record it.

One pass over the events, in batches of Arrow columns: each policy's engine
decides the batch in the core (columns in, decision and alert columns out, no
Python object per event), its decisions and alerts go to Parquet parts (memory flat in the number of
events), labelled decisions are kept for scoring, and with ``compare`` a second
engine sees the same batch. At the end: ``decisions.parquet``,
``alerts.parquet``, ``summary.json``, ``scoring.json`` (labels), ``metrics.json``
(the evidence promotion reads) and, in the store, the ``alerts`` table and the run's
``decisions.parquet`` behind its ``decisions`` view.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..collector import rare_collections
from ..core import Engine
from ..errors import UsageError
from ..events import parse_timestamp
from ..session import SessionTraits
from ..gates import GateReport, gate_report
from ..policy import CompiledPolicy, load_policy
from .audit import EVIDENCE_FORMAT, METRICS_FILE, keep_labels
from .compare import Comparison, why_nothing_differs
from .scoring import LabelTracker, dataset_kind, find_labels, labelled_log, metrics, read_labels, scoring_document
from .overlap import Worker
from .sink import RunWriter, decisions_batch
from .source import BATCH, EventSource, LogSession, Window, from_database, from_log
from .summary import summarize

#: ``progress(events_done, events_total)``; called after each batch.
Progress = Callable[[int, int], None]
EVENTS_DB = "events.duckdb"
OTHER_DIR = "other"


@dataclass
class BacktestResult:
    """What one backtest produced: where, its summary, its evidence document and gate results."""

    out_dir: Path
    run_id: str
    summary: dict[str, Any]
    evidence: dict[str, Any]
    gates: GateReport
    scoring: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    other: "BacktestResult | None" = None
    seconds: float = 0.0



@dataclass
class _Lane:
    """One policy's engine and outputs in the replay."""

    policy: CompiledPolicy
    out_dir: Path
    engine: Engine
    writer: RunWriter
    tracker: LabelTracker | None
    run_id: str
    critical: int = 0
    decisions: pa.RecordBatch | None = None
    alerts: list[dict] = field(default_factory=list)

    def step(self, batch: pa.RecordBatch, logs: dict[int, SessionTraits]) -> None:
        """Decide one batch of stored events in the core, columns in and out, and record it.

        Each log's stretch of the batch is its own broker session (``logs``: its
        traits), as each log numbers its broker messages and keeps its clocks on its own.
        """
        decided, raised = self.engine.decide_columns(batch, logs)
        self.decisions = decisions_batch(batch, decided, self.policy.identity)
        # Alerts are rare (a few per thousand events): scoring and comparison read them as dicts.
        self.alerts = raised.to_pylist() if raised.num_rows else []
        self.writer.write(self.decisions, raised)
        if raised.num_rows:
            self.critical += pc.sum(pc.equal(raised.column("severity"), "critical")).as_py() or 0
        if self.tracker is not None:
            self.tracker.observe(self.decisions, self.alerts)


#: Everything a backtest writes in its folder; cleared first so a re-run leaves nothing stale behind.
OUTPUTS = ("decisions.parquet", "alerts.parquet", "summary.json", "scoring.json", METRICS_FILE, "comparison.json",
           "verdict_changes.parquet", "alert_changes.parquet", EVENTS_DB, EVENTS_DB + ".wal")


def open_run_folder(folder: Path) -> None:
    """Make the run folder (and its parents), or say why it cannot be one, before any work is done."""

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"--out {folder}: a file of that name exists; a run writes a folder: "
                         "name a new folder, or remove the file") from None
    except NotADirectoryError:
        raise UsageError(f"--out {folder}: part of that path is a file, not a folder; name a folder") from None
    except OSError as error:
        raise UsageError(f"--out {folder}: cannot make the folder ({error.strerror}); "
                         "check the path is writable") from None
    clear_outputs(folder)


def clear_outputs(folder: Path) -> None:
    for name in OUTPUTS:
        (folder / name).unlink(missing_ok=True)
    if (folder / OTHER_DIR).is_dir():
        clear_outputs(folder / OTHER_DIR)


def _policy(policy: CompiledPolicy | str | Path) -> CompiledPolicy:
    return policy if isinstance(policy, CompiledPolicy) else load_policy(policy)


def _run_id(policy: CompiledPolicy) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{policy.name}-v{policy.version}-{policy.hash[:12]}-{stamp}-{secrets.token_hex(3)}"


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", "utf-8")


def open_source(events: str | Path | None, db: str | Path | None, out_dir: Path, window: Window) -> EventSource:

    if events is not None and db is None:
        return from_log(events, out_dir / EVENTS_DB, window)
    if db is not None and events is None:
        return from_database(db, window)
    raise UsageError("give exactly one of --events LOG or --db DB")


def run_backtest(
    policy: CompiledPolicy | str | Path,
    out: str | Path,
    *,
    events: str | Path | None = None,
    db: str | Path | None = None,
    labels: str | Path | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    account: str | None = None,
    compare: CompiledPolicy | str | Path | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH,
) -> BacktestResult:
    """Backtest ``policy`` on a log (``events``) or an event store (``db``); write the run folder ``out``.

    Labels default to the simulator's file beside ``events`` when present.
    ``compare`` replays the same events through a second policy: its own run
    goes to ``out/other`` and the differences to ``out/comparison.json``.
    """
    started_clock, started_at = time.perf_counter(), datetime.now(UTC)
    window = Window.parse(start, end, account)
    main_policy = _policy(policy)
    other_policy = _policy(compare) if compare is not None else None
    out_dir = Path(out)
    open_run_folder(out_dir)
    if labels is None and events is not None:
        labels = find_labels(Path(events))
    label_rows = read_labels(labels) if labels is not None else None
    source = open_source(events, db, out_dir, window)
    try:
        label_log = (labelled_log(source.con, label_rows, labels)
                     if label_rows is not None and labels is not None else None)
    except BaseException:
        source.close()
        raise
    # With one log every event and alert is the labels' own: the tracker need not pick them out.
    tracker_log = label_log if len(source.file_digests) > 1 else None
    worker = Worker()
    lanes: list[_Lane] = []
    comparison: Comparison | None = None
    try:
        for chosen, folder in ((main_policy, out_dir), (other_policy, out_dir / OTHER_DIR)):
            if chosen is None:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            tracker = LabelTracker(label_rows, tracker_log) if label_rows is not None else None
            run_id = _run_id(chosen)
            writer = RunWriter(folder, chosen.identity, worker, source.con.cursor(), run_id)
            lanes.append(_Lane(chosen, folder, Engine(chosen), writer, tracker, run_id))
        if other_policy is not None:
            comparison = Comparison(out_dir, main_policy.identity, other_policy.identity)
        total = source.stored_events()
        sessions = source.sessions()
        logs = {ingest_id: session.traits for ingest_id, session in sessions.items()}
        done = 0
        with rare_collections():
            for batch in source.record_batches(batch_size):
                for lane in lanes:
                    lane.step(batch, logs)
                if comparison is not None:
                    a, b = lanes
                    comparison.observe(a.decisions, b.decisions, a.alerts, b.alerts)
                done += len(batch)
                if progress is not None:
                    progress(done, total)
            # Still rare: scoring allocates a list per alert key, and each young collection would
            # trigger, now and then, a full one over the engine's whole state (0.5 s at 1M events).
            results = [_finish(lane, source, label_rows is not None, labels, started_at, started_clock, sessions)
                       for lane in lanes]
            if comparison is not None and other_policy is not None:
                span = results[0].summary["time_span"]
                span_ns = (parse_timestamp(span["last_broker_ts"]) - parse_timestamp(span["first_broker_ts"])
                           if span["first_broker_ts"] and span["last_broker_ts"] else None)
                results[0].comparison = comparison.finish(
                    source.con, why_nothing_differs(main_policy, other_policy, span_ns))
                results[0].other = results[1]
        return results[0]
    except BaseException:
        for lane in lanes:
            lane.writer.discard()
        if comparison is not None:
            comparison.discard()
        raise
    finally:
        worker.close()
        source.close()


def _finish(lane: _Lane, source: EventSource, labelled: bool, labels: str | Path | None,
            started_at: datetime, started_clock: float, sessions: dict[int, LogSession]) -> BacktestResult:
    """Merge the lane's outputs, store them, and write its summary, scoring and evidence."""
    policy, engine = lane.policy, lane.engine
    decisions_path, alerts_path = lane.writer.finish()
    events = sum(engine.counts.values())
    alerts = sum(engine.alert_counts.values())
    result = lane.tracker.score() if lane.tracker is not None else None
    scoring = scoring_document(result, policy.tables) if result is not None else None
    kind = dataset_kind(result) if labelled else "unlabeled"
    rejected = source.rejected_rows()
    body = metrics(events, alerts, lane.critical, engine.counts.get("invalid", 0) + rejected, result)
    policy_block = {"identity": policy.identity, "hash": policy.hash, "name": policy.name, "version": policy.version}
    first, last = source.broker_span()
    dataset = {"kind": kind, "source": source.description, "digest": source.digest, "events": events,
               "broker_span_ns": last - first if first is not None and last is not None else None,
               "labels": str(labels) if labels is not None else None, "window": source.window.describe()}
    if labels is not None:  # the run keeps what it was scored on: promotion recomputes the metrics from it
        dataset["labels_sha256"] = keep_labels(Path(labels), lane.out_dir)
    gates = gate_report(policy.identity, policy["promotion"]["gates"], [{"dataset": dataset, "metrics": body}])
    seconds = time.perf_counter() - started_clock
    evidence = {
        "evidence_format": EVIDENCE_FORMAT, "policy": policy_block, "dataset": dataset, "metrics": body,
        "gates": [{"id": g.gate_id, "passed": g.passed, "detail": g.detail} for g in gates.results],
        "run": {"id": lane.run_id, "made_by": "safeguards backtest", "started_at": started_at.isoformat(),
                "seconds": round(seconds, 3)},
    }
    summary = {"run_id": lane.run_id, "policy": policy_block, "data": {**dataset, "rejected_on_ingest": rejected,
                                                                    "database": str(source.db_path)},
               "logs": [session.describe() for session in sessions.values()],
               **summarize(decisions_path, alerts_path)}
    if scoring is not None:
        summary["scoring"] = {k: scoring[k] for k in ("by_fault_kind", "false_alerts_by_kind", "assumptions",
                                                      "alerts_after_block")}
        summary["scoring"]["listed_in"] = "scoring.json"
        _write_json(lane.out_dir / "scoring.json", scoring)
    _write_json(lane.out_dir / "summary.json", summary)
    _write_json(lane.out_dir / METRICS_FILE, evidence)
    source.con.execute(
        "INSERT INTO backtest_runs VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?, ?)",
        [lane.run_id, policy.identity, policy.hash, source.digest, started_at.replace(tzinfo=None), events, alerts,
         str(lane.out_dir)])
    return BacktestResult(lane.out_dir, lane.run_id, summary, evidence, gates, scoring, seconds=seconds)
