"""Writing decisions and alerts as they are made, per batch, so memory stays flat.

Decisions (one per event, the bulk of the output) become one Arrow batch per
event batch, with no Python object per decision: the core's decision columns
(verdict, guard, rule and reason dictionary-encoded, each distinct text made
once) decoded to the stored text columns, and the event fields (type, account,
timestamps, log) taken straight from the batch's own Arrow columns. A background
:class:`~.overlap.Worker` appends them to ``decisions.parquet`` (a row group of
every few batches) while the engine decides the next batch. Alerts are rare: held in memory and written as Parquet
parts of up to :data:`ALERT_PART_ROWS` (a file per batch cost more than its few
alerts), merged at the end into ``alerts.parquet`` and the ``alerts`` table.

The store does not get a second copy of the decisions: at the end it records
``decisions.parquet`` as the run's (:mod:`safeguards.store.decisions`, its
``decisions`` view reads the file), with the alerts, in one transaction.
Inserting every decision cost about 1.2 CPU-s per million on the second core.
"""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..store.decisions import make_view, record_decisions
from .batch import SharedBatch, text
from .overlap import Worker

_TIMESTAMP = pa.timestamp("ns")
DECISIONS_SCHEMA = pa.schema([
    ("seq", pa.int64()), ("event_id", pa.string()), ("order_id", pa.string()), ("group_id", pa.string()),
    ("verdict", pa.string()), ("guard", pa.string()), ("rule", pa.string()), ("reason", pa.string()),
    ("policy", pa.string()), ("type", pa.string()), ("account", pa.string()),
    ("recv_ts", _TIMESTAMP), ("broker_ts", _TIMESTAMP),
    ("ingest_id", pa.int32()),  # the event's log in the store: with seq, the event itself
])
#: The decision columns of few distinct values, dictionary-encoded in ``decisions.parquet``. Trying a dictionary
#: on the ids and times too (pyarrow's default) cost a fifth of the writing's CPU (0.64 -> 0.48 s per million,
#: per policy) for a larger file (20.7 -> 14.5 MB at 1M): those columns are near unique.
DICTIONARY_COLUMNS = ["verdict", "guard", "rule", "reason", "policy", "type", "account", "ingest_id"]
#: The alert parts' raw columns (``broker_ts`` as RFC 3339 text; :data:`ALERTS_SELECT` types it).
ALERT_COLUMNS = pa.schema([
    ("kind", pa.string()), ("severity", pa.string()), ("guard", pa.string()), ("seq", pa.int64()),
    ("order_id", pa.string()), ("group_id", pa.string()), ("broker_ts", pa.string()), ("detail", pa.string()),
    ("policy", pa.string()), ("ingest_id", pa.int32()),
])
_ALERT_KEYS = ("kind", "severity", "guard", "seq", "order_id", "group_id", "broker_ts", "detail")

#: SQL turning the alert parts' raw columns into the stored types (broker_ts is RFC 3339 text).
ALERTS_SELECT = (
    "SELECT kind, severity, guard, seq, order_id, group_id, CAST(broker_ts AS TIMESTAMP_NS) AS broker_ts, "
    "detail, policy, ingest_id FROM read_parquet({files})"
)


def sql_text(path: Path) -> str:
    """A path as a SQL string literal (quotes doubled), for DuckDB statements that take no parameters."""
    return "'" + path.as_posix().replace("'", "''") + "'"


def _as(column: pa.Array, kind: pa.DataType) -> pa.Array:
    return column if column.type == kind else column.cast(kind)


def decisions_batch(events: pa.RecordBatch | SharedBatch, decided: pa.RecordBatch, policy: str) -> pa.RecordBatch:
    """The decisions of ``events`` as one Arrow batch of :data:`DECISIONS_SCHEMA`.

    ``decided`` is :meth:`~safeguards.core.Engine.decide_columns`'s answer for
    the batch (``seq`` as the engine numbers it, the ids as the engine read them,
    the group and the outcome); the event's own fields (type, account,
    timestamps) come straight from the batch's Arrow columns (made once per batch
    for every policy deciding it, :class:`~.batch.SharedBatch`); ``ingest_id`` says
    which of the store's logs the event came from (``seq`` is a position within
    its log, so two logs of a store repeat each other's).
    """
    shared = events if isinstance(events, SharedBatch) else SharedBatch(events)
    arrays = [
        decided.column("seq"),
        text(decided.column("event_id")),
        text(decided.column("order_id")),
        decided.column("group_id"),
        *(text(decided.column(name)) for name in ("verdict", "guard", "rule", "reason")),
        pa.repeat(policy, shared.num_rows),
        *shared.event_columns(),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=DECISIONS_SCHEMA)


def alerts_table(alerts: pa.RecordBatch, policy: str) -> pa.Table:
    """A batch's alerts (:meth:`~safeguards.core.Engine.decide_columns`) as :data:`ALERT_COLUMNS`, under ``policy``."""
    columns = [alerts.column(name) for name in _ALERT_KEYS]
    columns += [pa.repeat(policy, alerts.num_rows), _as(alerts.column("ingest_id"), pa.int32())]
    return pa.Table.from_arrays(columns, schema=ALERT_COLUMNS)


#: Alerts held in memory before they are written as a part (a few per thousand events: usually one part a run).
ALERT_PART_ROWS = 65_536
#: Decisions held before they are written as one row group of ``decisions.parquet``: a row group per event batch
#: (16,384 rows) cost a fifth more of the writing's CPU (each column chunk's compressor, header and statistics).
DECISIONS_ROW_GROUP_ROWS = 65_536


class RunWriter:
    """Decisions and alerts of one policy's replay, appended per batch on ``worker``, completed by :meth:`finish`.

    ``store`` (a cursor of the event store, used on the worker only) gets the run
    at the end, in one transaction: its alerts, and ``decisions.parquet`` named
    as its decisions.
    """

    def __init__(self, out_dir: Path, policy_identity: str, worker: Worker, store: duckdb.DuckDBPyConnection,
                 run_id: str) -> None:
        self.out_dir, self.policy, self.worker, self.store, self.run_id = out_dir, policy_identity, worker, store, run_id
        self.parts = out_dir / ".parts"
        shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir(parents=True)
        self.alert_parts: list[Path] = []
        self.alerts: list[pa.Table] = []  # not yet in a part: a file per batch cost more than the alerts in it
        self.alert_rows = 0
        self.decisions_path = out_dir / "decisions.parquet"
        self.decisions = pq.ParquetWriter(self.decisions_path, DECISIONS_SCHEMA, compression="zstd",
                                          use_dictionary=DICTIONARY_COLUMNS)
        self.pending: list[pa.RecordBatch] = []  # decisions not yet handed to the worker: the next row group's
        self.pending_rows = 0

    def write(self, decisions: pa.RecordBatch, alerts: pa.RecordBatch) -> None:
        """Append a batch's decisions (from :func:`decisions_batch`) and alerts (the core's alert columns)."""
        self.pending.append(decisions)
        self.pending_rows += decisions.num_rows
        if self.pending_rows >= DECISIONS_ROW_GROUP_ROWS:
            self._flush_decisions()
        if alerts.num_rows:
            self.alerts.append(alerts_table(alerts, self.policy))
            self.alert_rows += alerts.num_rows
            if self.alert_rows >= ALERT_PART_ROWS:
                self._flush_alerts()

    def _flush_decisions(self) -> None:
        """The decisions held so far, one row group, written on the worker (compressing and writing release the GIL)."""
        if self.pending:
            self.worker.submit(partial(self.decisions.write_table, pa.Table.from_batches(self.pending)))
            self.pending, self.pending_rows = [], 0

    def _flush_alerts(self) -> None:
        """The alerts held so far as one part (in the order raised); memory stays flat however many there are."""
        if self.alerts:
            path = self.parts / f"alerts-{len(self.alert_parts):06d}.parquet"
            pq.write_table(pa.concat_tables(self.alerts), path)
            self.alert_parts.append(path)
            self.alerts, self.alert_rows = [], 0

    def finish(self) -> tuple[Path, Path]:
        """Close ``decisions.parquet``, merge the alert parts into ``alerts.parquet``, store both; drop the parts."""
        self._flush_decisions()
        self._flush_alerts()
        self.worker.submit(self._complete)
        self.worker.drain()
        shutil.rmtree(self.parts, ignore_errors=True)
        return self.decisions_path, self.out_dir / "alerts.parquet"

    def _complete(self) -> None:
        self.decisions.close()
        # With alerts, never one file alone: DuckDB takes NOT NULL from a lone file's statistics, so the
        # columns' nullability in alerts.parquet would depend on how many parts the alerts filled.
        parts = [*self.alert_parts, self._empty_alerts()] if len(self.alert_parts) == 1 else \
            self.alert_parts or [self._empty_alerts()]
        query = ALERTS_SELECT.format(files="[" + ", ".join(sql_text(p) for p in parts) + "]")
        self.store.execute(f"COPY ({query}) TO {sql_text(self.out_dir / 'alerts.parquet')} (FORMAT PARQUET, COMPRESSION ZSTD)")
        self.store.execute("BEGIN TRANSACTION")
        self.store.execute(f"INSERT INTO alerts SELECT ? AS run_id, * FROM ({query})", [self.run_id])
        record_decisions(self.store, self.run_id, self.decisions_path)
        self.store.execute("COMMIT")

    def _empty_alerts(self) -> Path:
        path = self.parts / "alerts-empty.parquet"
        pq.write_table(ALERT_COLUMNS.empty_table(), path)
        return path

    def discard(self) -> None:
        """After a failure: nothing stored, no partial outputs left (the view made again without this folder's file)."""
        self.pending, self.pending_rows = [], 0
        def rollback() -> None:
            self.decisions.close()
            try:
                self.store.execute("ROLLBACK")
            except duckdb.Error:
                pass  # no transaction open: nothing to undo
            self.decisions_path.unlink(missing_ok=True)
            make_view(self.store)
        for step in (lambda: None, lambda: self.worker.submit(rollback)):
            try:
                step()
                self.worker.drain()  # the first pass clears a write's error, so the rollback runs
            except Exception:  # noqa: BLE001 - the run is failing already; its error is the one to report
                pass
        shutil.rmtree(self.parts, ignore_errors=True)
        self.decisions_path.unlink(missing_ok=True)
