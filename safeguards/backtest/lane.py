"""One policy's part of a replay: its engine, its writer, its label tracker, and its run folder's outputs.

Everything here is per policy (the engine's state, the decisions it writes, the
figures scored from them); what the policies of one replay share is the
:class:`~.reading.Reading` the lanes are fed from.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..core import Engine
from ..gates import GateReport, gate_report
from ..policy import CompiledPolicy
from ..session import SessionTraits
from .audit import EVIDENCE_FORMAT, METRICS_FILE, keep_labels
from .batch import SharedBatch
from .overlap import Worker
from .reading import Reading
from .scoring import LabelTracker, dataset_kind, metrics, scoring_document
from .sink import RunWriter, decisions_batch
from .summary import summarize


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


def _run_id(policy: CompiledPolicy) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{policy.name}-v{policy.version}-{policy.hash[:12]}-{stamp}-{secrets.token_hex(3)}"


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", "utf-8")


@dataclass
class Lane:
    """One policy's engine and outputs in the replay; its own writer thread, so one lane's failure is its own."""

    policy: CompiledPolicy
    out_dir: Path
    engine: Engine
    writer: RunWriter
    worker: Worker
    tracker: LabelTracker | None
    run_id: str
    critical: int = 0
    decisions: pa.RecordBatch | None = None
    alerts: list[dict] = field(default_factory=list)

    @classmethod
    def open(cls, policy: CompiledPolicy, folder: Path, reading: Reading) -> "Lane":
        """A fresh engine for ``policy`` writing into ``folder``, its run recorded in the reading's store."""
        folder.mkdir(parents=True, exist_ok=True)
        tracker = LabelTracker(reading.label_rows, reading.tracker_log) if reading.label_rows is not None else None
        run_id = _run_id(policy)
        engine = Engine(policy)
        worker = Worker()
        try:
            writer = RunWriter(folder, policy.identity, worker, reading.source.con.cursor(), run_id)
        except BaseException:
            worker.close()
            raise
        return cls(policy, folder, engine, writer, worker, tracker, run_id)

    def step(self, batch: SharedBatch, logs: dict[int, SessionTraits]) -> None:
        """Decide one batch of stored events in the core, columns in and out, and record it.

        Each log's stretch of the batch is its own broker session (``logs``: its
        traits), as each log numbers its broker messages and keeps its clocks on its own.
        What depends on the events alone comes from ``batch``, made once for every lane.
        """
        decided, raised = self.engine.decide_columns(batch.events, logs)
        self.decisions = decisions_batch(batch, decided, self.policy.identity)
        # Alerts are rare (a few per thousand events): scoring and comparison read them as dicts.
        self.alerts = raised.to_pylist() if raised.num_rows else []
        self.writer.write(self.decisions, raised)
        if raised.num_rows:
            self.critical += pc.sum(pc.equal(raised.column("severity"), "critical")).as_py() or 0
        if self.tracker is not None:
            self.tracker.observe(self.decisions, self.alerts, batch)

    def discard(self) -> None:
        """After a failure: nothing of this lane stored or left in its folder."""
        self.writer.discard()
        self.worker.close()

    def close(self) -> None:
        self.worker.close()

    def finish(self, reading: Reading) -> BacktestResult:
        """Merge the lane's outputs, store them, and write its summary, scoring and evidence."""
        policy, engine, source = self.policy, self.engine, reading.source
        decisions_path, alerts_path = self.writer.finish()
        events = sum(engine.counts.values())
        alerts = sum(engine.alert_counts.values())
        result = self.tracker.score() if self.tracker is not None else None
        scoring = scoring_document(result, policy.tables) if result is not None else None
        kind = dataset_kind(result) if reading.labelled else "unlabeled"
        rejected = reading.rejected
        body = metrics(events, alerts, self.critical, engine.counts.get("invalid", 0) + rejected, result)
        policy_block = {"identity": policy.identity, "hash": policy.hash, "name": policy.name,
                        "version": policy.version}
        first, last = reading.broker_span
        labels = reading.labels
        dataset = {"kind": kind, "source": source.description, "digest": source.digest, "events": events,
                   "broker_span_ns": last - first if first is not None and last is not None else None,
                   "labels": str(labels) if labels is not None else None, "window": source.window.describe()}
        if labels is not None:  # the run keeps what it was scored on: promotion recomputes the metrics from it
            dataset["labels_sha256"] = keep_labels(Path(labels), self.out_dir)
        gates = gate_report(policy.identity, policy["promotion"]["gates"], [{"dataset": dataset, "metrics": body}])
        seconds = time.perf_counter() - reading.started_clock
        evidence = {
            "evidence_format": EVIDENCE_FORMAT, "policy": policy_block, "dataset": dataset, "metrics": body,
            "gates": [{"id": g.gate_id, "passed": g.passed, "detail": g.detail} for g in gates.results],
            "run": {"id": self.run_id, "made_by": "safeguards backtest", "started_at": reading.started_at.isoformat(),
                    "seconds": round(seconds, 3)},
        }
        summary = {"run_id": self.run_id, "policy": policy_block,
                   "data": {**dataset, "rejected_on_ingest": rejected, "database": str(source.db_path)},
                   "logs": [session.describe() for session in reading.sessions.values()],
                   **summarize(decisions_path, alerts_path)}
        if scoring is not None:
            summary["scoring"] = {k: scoring[k] for k in ("by_fault_kind", "false_alerts_by_kind", "assumptions",
                                                          "alerts_after_block")}
            summary["scoring"]["listed_in"] = "scoring.json"
            _write_json(self.out_dir / "scoring.json", scoring)
        _write_json(self.out_dir / "summary.json", summary)
        _write_json(self.out_dir / METRICS_FILE, evidence)
        source.con.execute(
            "INSERT INTO backtest_runs VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?, ?)",
            [self.run_id, policy.identity, policy.hash, source.digest, reading.started_at.replace(tzinfo=None),
             events, alerts, str(self.out_dir)])
        return BacktestResult(self.out_dir, self.run_id, summary, evidence, gates, scoring, seconds=seconds)
