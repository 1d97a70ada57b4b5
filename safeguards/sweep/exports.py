"""A store's events where the workers are: exported once as Parquet, backtested through a small scratch store.

A backtest with ``db=`` writes its run into the store it reads (alerts, the run's
record, the file behind ``decisions``), and DuckDB lets one process write a file at
a time, so a worker cannot backtest a shared store in place. Copying the whole
store into every run folder (and, for a part, deleting the other logs' events)
moved every event once per task. Instead a worker reads an *export*: a folder of
Parquet files (``events.parquet``, and the small ``ingests`` and ``rejected_rows``
of the same logs), written once by a DuckDB ``COPY`` that reads only the rows it
keeps, by path, and read by path where the worker is (shared storage on a
cluster). The worker's backtest then runs on a *scratch store*: a fresh store in
its run folder holding the export's small tables, whose ``events`` is a view over
``events.parquet`` (each closed-set column cast back to its ``ENUM``, so the core
sees the same columns as from the store). The events are never copied again and
never pass through the driver.

The export keeps the store's scan order (``preserve_insertion_order``), and
the reader replays a store's rows in the same order whatever order they are
stored in, so the replay and its outputs are the same; the ingests are the
store's own rows, so the scratch store names the same data digest.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..backtest.source import EventSource
from ..errors import UsageError
from ..events import FIELDS
from ..store import open_store
from ..store.rows import one_row
from ..store.schema import column_type
from ..store.sql import ident, lit

EVENTS, INGESTS, REJECTED = "events.parquet", "ingests.parquet", "rejected_rows.parquet"
#: Written last, once the export is complete: what it holds and of which store.
MARKER = "export.json"

_INGEST_COLUMNS = ("ingest_id", "path", "sha256", "format", "rows_loaded", "rows_rejected", "rows_skipped",
                   "started_at", "finished_at", "options")
_REJECTED_COLUMNS = ("ingest_id", "path", "row_number", "location", "reason", "raw")
_EVENT_COLUMNS = ("ingest_id", "row_number", *FIELDS, "extra")


@dataclass(frozen=True)
class Selection:
    """Which of a store's events an export keeps: some logs (None: all), and one more event (a part's tail)."""

    logs: tuple[int, ...] | None = None
    tail: tuple[int, int, int] | None = None  # (ingest_id, seq, row_number)

    def events_query(self, columns: str) -> str:
        """The events it keeps, in the store's scan order; the tail first or last, as its log's id sorts.

        Two selects rather than one ``OR``: DuckDB skips the other logs' row groups
        for an ``ingest_id`` list, not for a condition across columns (a full scan, 2x the time).
        The reader replays rows in log order whatever order they are stored in (it sorts
        when a scan is not in that order), so the tail's place only keeps the plain scan.
        """
        if self.logs is None:
            return f"SELECT {columns} FROM events"
        own = (f"SELECT {columns} FROM events WHERE ingest_id IN ({', '.join(str(int(i)) for i in self.logs)})"
               if self.logs else f"SELECT {columns} FROM events WHERE false")
        if self.tail is None:
            return own
        log, seq, row = (int(x) for x in self.tail)
        tail = f"SELECT {columns} FROM events WHERE ingest_id = {log} AND seq = {seq} AND row_number = {row}"
        first, last = (tail, own) if self.logs and log < min(self.logs) else (own, tail)
        return f"{first}\nUNION ALL\n{last}"

    def logs_where(self) -> str:
        """The ingests (and rejected rows) to keep: the part's logs and its tail's log."""
        if self.logs is None:
            return ""
        logs = [*self.logs, *([int(self.tail[0])] if self.tail is not None else [])]
        return f"WHERE ingest_id IN ({', '.join(str(int(i)) for i in logs)})" if logs else "WHERE false"


def export_store(db: str | Path, folder: str | Path, selection: Selection = Selection()) -> dict[str, Any]:
    """Write the events ``selection`` keeps of the store ``db`` (read-only) into ``folder`` as Parquet; say what it holds.

    Written beside ``folder`` and renamed into place, so a folder that is there is
    complete (:data:`MARKER` says of which store and how many events).
    """
    db, folder = Path(db), Path(folder)
    staging = folder.with_name(folder.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"{db}: cannot open the store to read it ({error}); is another command writing it?") from None
    try:
        con.execute("SET preserve_insertion_order = true")  # DuckDB's default: the export keeps the scan order
        queries = {EVENTS: selection.events_query(", ".join(ident(c) for c in _EVENT_COLUMNS))}
        for name, table, columns in ((INGESTS, "ingests", _INGEST_COLUMNS), (REJECTED, "rejected_rows", _REJECTED_COLUMNS)):
            queries[name] = f"SELECT {', '.join(ident(c) for c in columns)} FROM {table} {selection.logs_where()}"
        for name, query in queries.items():
            con.execute(f"COPY ({query}) TO {lit(str(staging / name))} (FORMAT parquet)")
        events = one_row(con, f"SELECT count(*) FROM read_parquet({lit(str(staging / EVENTS))})")[0]
        files = [row[0] for row in con.execute(f"SELECT sha256 FROM read_parquet({lit(str(staging / INGESTS))}) "
                                               "ORDER BY ingest_id").fetchall()]
    finally:
        con.close()
    digest = EventSource(None, db, str(db), files).digest  # type: ignore[arg-type]  # the digest a backtest names
    marker = {"store": str(db), "digest": digest, "events": events, "logs": list(selection.logs) if selection.logs is not None else None,
              "tail": list(selection.tail) if selection.tail is not None else None}
    (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", "utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return marker


def read_marker(folder: Path) -> dict[str, Any] | None:
    """What a complete export in ``folder`` holds; None when there is none."""
    try:
        return json.loads((folder / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def scratch_store(export: str | Path, path: str | Path) -> Path:
    """A fresh store at ``path`` over the export in ``export``: its ingests and rejected rows, its events as a view.

    The backtest writes its run here; the events stay in ``events.parquet``.
    """
    export, path = Path(export).resolve(), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = open_store(path)
    try:
        _insert(con, "ingests", _INGEST_COLUMNS, export / INGESTS)
        _insert(con, "rejected_rows", _REJECTED_COLUMNS, export / REJECTED)
        typed = ", ".join(_typed(column) for column in _EVENT_COLUMNS)
        con.execute(f"CREATE OR REPLACE VIEW events AS SELECT {typed} FROM read_parquet({lit(str(export / EVENTS))})")
    finally:
        con.close()
    return path


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], parquet: Path) -> None:
    names = ", ".join(ident(c) for c in columns)
    con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM read_parquet({lit(str(parquet))})")


def _typed(column: str) -> str:
    """The export's column as the store's ``events`` types it (Parquet has no ENUM, and JSON is text there)."""
    if column in ("ingest_id", "row_number"):
        return ident(column)
    kind = "JSON" if column == "extra" else column_type(column)
    return f"CAST({ident(column)} AS {kind}) AS {ident(column)}"
