"""A run's evidence recomputed from its own outputs: what promotion believes instead of ``metrics.json``.

``metrics.json`` is a summary anyone can edit. The run folder also holds what
the summary was made from: every decision (``decisions.parquet``), every alert
(``alerts.parquet``), the labels the run was scored on (a copy), and the event
store (``events.duckdb``, or the store its summary names). Auditing reads those
back, checks that they belong together (one decision per stored event, all made
by the policy the evidence names, the data's digest) and recomputes the dataset
figures and every metric exactly as the backtest did. A figure that differs is
evidence changed after its run, and promotion refuses it.

What this cannot catch: outputs forged consistently from end to end (decisions,
alerts and labels rewritten together). Replaying the data through the candidate
is the remedy for that, and costs a full backtest.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import EvidenceError, UsageError
from ..gates import LIVE
from .scoring import LabelTracker, dataset_kind, labelled_log, metrics, read_labels
from .source import EventSource, Window
from ..store.rows import first_row

#: The evidence document a run writes beside its outputs, and the version of its format.
METRICS_FILE, EVIDENCE_FORMAT = "metrics.json", 1
DECISIONS_FILE, ALERTS_FILE, SUMMARY_FILE, STORE_FILE = "decisions.parquet", "alerts.parquet", "summary.json", "events.duckdb"
#: The copy of the labels a run keeps beside its outputs (``labels.jsonl`` or ``labels.parquet``).
LABELS_STEM = "labels"
_READ = 65_536


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def kept_labels(folder: Path) -> Path | None:
    """The labels copy a run folder holds, if any."""
    for suffix in (".jsonl", ".parquet"):
        candidate = folder / (LABELS_STEM + suffix)
        if candidate.is_file():
            return candidate
    return None


def keep_labels(labels: Path, folder: Path) -> str:
    """Copy the labels a run is scored on into its folder; their sha256, which the evidence records."""
    copy = folder / (LABELS_STEM + (".parquet" if labels.suffix == ".parquet" else ".jsonl"))
    shutil.copyfile(labels, copy)
    return file_sha256(copy)


@dataclass(frozen=True)
class Audit:
    """The dataset and metrics recomputed from a run's outputs, and how the run's own summary differs."""

    folder: Path
    dataset: dict[str, Any]
    metrics: dict[str, Any]
    differences: list[str]

    def document(self, stated: dict[str, Any]) -> dict[str, Any]:
        """The evidence document with the recomputed figures in place of the stated ones."""
        return {**stated, "dataset": {**stated["dataset"], **self.dataset}, "metrics": self.metrics}


def audit_run(folder: str | Path, stated: dict[str, Any]) -> Audit:
    """Recompute ``stated`` (a run's ``metrics.json``) from the run's decisions, alerts, labels and data."""
    folder = Path(folder)
    for name in (DECISIONS_FILE, ALERTS_FILE):
        if not (folder / name).is_file():
            raise EvidenceError(f"{folder}: no {name}; promotion recomputes the evidence from the run's own decisions "
                                f"and alerts, so the whole run folder is needed (re-run the backtest to make one)")
    identity = _identity(stated["policy"])
    store = _store_of(folder, stated["dataset"].get("source"))
    try:
        con = duckdb.connect(str(store), read_only=True)  # read only: the evidence's digest covers this file
    except duckdb.Error as error:
        raise EvidenceError(f"{store}: the run's event store cannot be opened ({error})") from None
    try:
        return _audit(folder, stated, identity, store, con)
    finally:
        con.close()


def _audit(folder: Path, stated: dict[str, Any], identity: str, store: Path,
           con: duckdb.DuckDBPyConnection) -> Audit:
    dataset = stated["dataset"]
    window = _window(folder, dataset.get("window"))
    digests = [row[0] for row in con.execute("SELECT sha256 FROM ingests ORDER BY ingest_id").fetchall()]
    source = EventSource(con, store, str(dataset.get("source")), digests, window)
    _same_policy(folder, identity)
    _one_decision_per_event(folder, con, window)
    labels, label_rows = _labels(folder, dataset)
    tracker = None
    if label_rows is not None and labels is not None:
        try:
            log = labelled_log(con, label_rows, labels) if len(digests) > 1 else None
        except UsageError as error:
            raise EvidenceError(f"{folder}: {error}") from None
        tracker = LabelTracker(label_rows, log)
    events = invalid = 0
    for batch in _batches(folder / DECISIONS_FILE):
        stored = pc.is_valid(batch.column("ingest_id"))
        decisions = batch.filter(stored)
        unstored = batch.num_rows - decisions.num_rows  # a shadow's inputs that were no event: invalid, checked above
        events += decisions.num_rows
        invalid += (pc.sum(pc.equal(decisions.column("verdict"), "invalid")).as_py() or 0) + unstored
        if tracker is not None:
            tracker.observe(decisions, [])
    alert_rows = _alert_rows(folder / ALERTS_FILE)
    critical = sum(1 for alert in alert_rows if alert["severity"] == "critical")
    if tracker is not None:
        tracker.alerts.extend(alert_rows)
    result = tracker.score() if tracker is not None else None
    rejected = source.rejected_rows()
    recomputed_metrics = metrics(events, len(alert_rows), critical, invalid + rejected, result)
    first, last = source.broker_span()
    recomputed_dataset = {
        "kind": dataset_kind(result) if label_rows is not None else _unlabeled_kind(dataset),
        "digest": source.digest, "events": events,
        "broker_span_ns": last - first if first is not None and last is not None else None,
    }
    differences = _differences("dataset", {key: dataset.get(key) for key in recomputed_dataset}, recomputed_dataset)
    differences += _differences("metrics", stated.get("metrics", {}), recomputed_metrics)
    return Audit(folder, recomputed_dataset, recomputed_metrics, differences)


def _unlabeled_kind(dataset: dict[str, Any]) -> str:
    """``live`` for a shadow's traffic, else ``unlabeled``.

    Both are unlabeled data; ``live`` (real traffic decided beside production)
    backs the clean-traffic gates. Claiming it for another unlabeled run proves
    no more than a backtest of the same log with an empty labels file would.
    """
    return LIVE if dataset.get("kind") == LIVE else "unlabeled"


def _differences(where: str, stated: Any, recomputed: Any) -> list[str]:
    """Each figure the stated document gives otherwise than the recomputation, by its dotted name."""
    if isinstance(recomputed, dict) and isinstance(stated, dict):
        found = []
        for key in sorted(set(stated) | set(recomputed), key=str):
            if key not in recomputed:
                found.append(f"{where}.{key} says {_shown(stated[key])}, which the run's outputs do not give")
            else:
                found += _differences(f"{where}.{key}", stated.get(key), recomputed[key])
        return found
    if _same(stated, recomputed):
        return []
    return [f"{where} says {_shown(stated)}, the run's outputs give {_shown(recomputed)}"]


def _identity(policy: dict[str, Any]) -> str:
    return f"{policy.get('name')}@{policy.get('version')}#{str(policy.get('hash'))[:12]}"


def _store_of(folder: Path, source: Any) -> Path:
    """The run's event store: its own copy (a backtest of a log), or the store it read (a backtest of ``--db``)."""
    own = folder / STORE_FILE
    if own.is_file():
        return own
    summary = folder / SUMMARY_FILE
    named = None
    if summary.is_file():
        try:
            named = json.loads(summary.read_text("utf-8")).get("data", {}).get("database")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            named = None
    # A backtest of a log keeps its store in its own folder: a copy of the folder must not read the original's.
    if isinstance(named, str) and named == source and Path(named).is_file():
        return Path(named)
    where = f" ({own if named != source else named})" if isinstance(named, str) else ""
    raise EvidenceError(f"{folder}: the event store the run read{where} is not there; promotion recomputes the "
                        f"evidence from the data it was made on: promote where the store is, or backtest the log "
                        f"with --events so the run folder keeps its own copy")


def _window(folder: Path, described: Any) -> Window:
    if not isinstance(described, dict):
        raise EvidenceError(f"{folder}: dataset.window missing from the evidence; re-run the backtest")
    start, end, account = described.get("from_ns"), described.get("to_ns"), described.get("account")
    return Window(start, end, account)


def _batches(path: Path) -> Iterator[pa.RecordBatch]:
    try:
        yield from pq.ParquetFile(path).iter_batches(batch_size=_READ)
    except (pa.ArrowException, OSError) as error:
        raise EvidenceError(f"{path}: cannot be read as the run's Parquet output ({error})") from None


def _alert_rows(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for batch in _batches(path):  # the scorer reads kinds, seqs, orders and groups, never the times
        rows.extend(batch.drop_columns([c for c in ("broker_ts",) if c in batch.schema.names]).to_pylist())
    return rows


def _same_policy(folder: Path, identity: str) -> None:
    """Every decision and alert says it was made by the policy the evidence names."""
    for name in (DECISIONS_FILE, ALERTS_FILE):
        others: set[str] = set()
        for batch in _batches(folder / name):
            others.update(value for value in pc.unique(batch.column("policy")).to_pylist() if value != identity)
        if others:
            raise EvidenceError(f"{folder / name}: made by {', '.join(sorted(map(str, others)))}, not by {identity} "
                                f"as its metrics.json says; the evidence was put together from another run")


def _one_decision_per_event(folder: Path, con: duckdb.DuckDBPyConnection, window: Window) -> None:
    """The decisions are the stored events' own: each event in the window decided exactly once, nothing else."""
    from ..store.reader import events_where

    where, params = events_where(since_ns=window.start_ns, until_ns=window.end_ns, account=window.account)
    decisions = str(folder / DECISIONS_FILE).replace("'", "''")
    # A decision of no log is a shadow's answer to an input that was no event (not JSON, a field missing): the
    # sidecar decided it live, the store never held it. Only `invalid` can be such an answer.
    found = first_row(
        con, f"""WITH e AS (SELECT ingest_id, seq, event_id FROM events {where}),
                 all_d AS (SELECT ingest_id, seq, event_id, verdict FROM read_parquet('{decisions}')),
                 d AS (SELECT ingest_id, seq, event_id, count(*) AS n FROM all_d WHERE ingest_id IS NOT NULL GROUP BY ALL)
            SELECT (SELECT count(*) FROM e ANTI JOIN d USING (ingest_id, seq)),
                   (SELECT count(*) FROM d ANTI JOIN e USING (ingest_id, seq)),
                   (SELECT count(*) FROM d WHERE n > 1),
                   (SELECT count(*) FROM e JOIN d USING (ingest_id, seq) WHERE e.event_id IS DISTINCT FROM d.event_id),
                   (SELECT count(*) FROM all_d WHERE ingest_id IS NULL AND verdict IS DISTINCT FROM 'invalid')""",
        params)
    counts = found if found is not None else (0, 0, 0, 0, 0)
    problems = [f"{count:,} {what}" for count, what in zip(counts, (
        "stored events have no decision", "decisions are of no stored event", "events are decided more than once",
        "decisions name another event_id than the stored event",
        "decisions of no log (a shadow's inputs that were no event) are not invalid")) if count]
    if problems:
        raise EvidenceError(f"{folder / DECISIONS_FILE}: not the decisions of the run's data: {'; '.join(problems)}; "
                            "the evidence was changed after its run: re-run the backtest")


def _labels(folder: Path, dataset: dict[str, Any]) -> tuple[Path | None, list[dict[str, Any]] | None]:
    """The labels the run was scored on: its own copy (checked against the digest it recorded)."""
    if dataset.get("labels") is None:
        return None, None
    copy = kept_labels(folder)
    if copy is None:
        raise EvidenceError(f"{folder}: the run was scored on labels ({dataset['labels']}) but keeps no copy of them; "
                            "re-run the backtest with this release, which keeps one")
    recorded = dataset.get("labels_sha256")
    if recorded is not None and recorded != file_sha256(copy):
        raise EvidenceError(f"{copy}: not the labels the run was scored on (its digest differs from dataset.labels_sha256)")
    try:
        return copy, read_labels(copy)
    except UsageError as error:
        raise EvidenceError(str(error)) from None


def _same(stated: Any, recomputed: Any) -> bool:
    if isinstance(recomputed, dict):
        return isinstance(stated, dict) and stated.keys() == recomputed.keys() and all(
            _same(stated[key], value) for key, value in recomputed.items())
    if isinstance(recomputed, float) or isinstance(stated, float):
        return (type(stated) in (int, float) and type(recomputed) in (int, float)
                and math.isclose(stated, recomputed, rel_tol=1e-12, abs_tol=1e-15))
    return type(stated) is type(recomputed) and stated == recomputed


def _shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
