"""Where a backtest's events come from: an event store (``--db``) or a log file (``--events``).

A log file is ingested into a DuckDB database inside the run folder rather than
read directly: one replay path for every format the store reads (JSON lines,
CSV, Parquet, FIX), the same validation and quarantine of malformed rows as
production ingest, and a database the notebooks can query afterwards (events
next to the decisions and alerts). Events come back in arrival order, in
batches of Arrow columns (:mod:`safeguards.store.reader`), which the core decides as they are,
each log's events kept in its order and logs that overlap in time merged by arrival;
the time and account window is applied by DuckDB, and the next batch is fetched
on a second thread while the engine decides this one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import UsageError
from ..events import parse_timestamp
from ..session import SessionTraits
from ..store import open_store
from ..store.database import one_row
from ..store.reader import EventBatch, arrow_batches, decode, events_where
from .overlap import prefetched

#: Events per batch. Chosen when each event was a dict (about 1.5 KB): 16k kept peak memory about
#: 250 MB lower than 64k at the same speed. As Arrow columns an event is a few hundred bytes.
BATCH = 16_384

#: DuckDB's memory cap while a backtest reads: the store's reader sorts all events by
#: arrival, and without a cap DuckDB would hold the whole sort in RAM (about 360 MB
#: per million events); capped, it spills to disk and memory stays flat in N.
MEMORY_LIMIT = os.environ.get("SAFEGUARDS_BACKTEST_MEMORY", "256MB")


def _capped(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", MEMORY_LIMIT):
        raise UsageError(f"SAFEGUARDS_BACKTEST_MEMORY={MEMORY_LIMIT!r}: give a size such as 512MB or 2GB")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con


@dataclass(frozen=True)
class Window:
    """Which events to replay: by arrival time (``recv_ts``, always present) and account."""

    start_ns: int | None = None
    end_ns: int | None = None
    account: str | None = None

    @classmethod
    def parse(cls, start: str | int | None, end: str | int | None, account: str | None) -> "Window":
        def stamp(value: str | int | None, flag: str) -> int | None:
            if value is None:
                return None
            try:
                return parse_timestamp(value)
            except Exception as error:  # noqa: BLE001 - reported as a usage error with the flag
                raise UsageError(f"{flag} {value!r}: not a timestamp ({error}); use RFC 3339, e.g. 2026-02-21T14:30:00Z") from None

        window = cls(stamp(start, "--from"), stamp(end, "--to"), account)
        if window.start_ns is not None and window.end_ns is not None and window.start_ns > window.end_ns:
            raise UsageError(f"--from {start} is after --to {end}")
        return window

    @property
    def filtering(self) -> bool:
        return self.start_ns is not None or self.end_ns is not None or self.account is not None

    def describe(self) -> dict[str, Any]:
        return {"from_ns": self.start_ns, "to_ns": self.end_ns, "account": self.account}


@dataclass
class EventSource:
    """An open event store, the digest naming its data, and what was rejected on ingest."""

    con: duckdb.DuckDBPyConnection
    db_path: Path
    description: str
    file_digests: list[str]
    window: Window = field(default_factory=Window)

    @property
    def digest(self) -> str:
        """sha256 of the data: the file's own sha256 for one unfiltered file, else of the files and filters."""
        if len(self.file_digests) == 1 and not self.window.filtering:
            return self.file_digests[0]
        content = json.dumps({"files": self.file_digests, "window": self.window.describe()}, sort_keys=True)
        return hashlib.sha256(content.encode("utf-8")).hexdigest()

    def stored_events(self) -> int:
        return one_row(self.con, "SELECT count(*) FROM events")[0]

    def broker_span(self) -> tuple[int | None, int | None]:
        """First and last broker time (ns) of the events the window lets through: how long the evidence watched."""
        where, params = events_where(since_ns=self.window.start_ns, until_ns=self.window.end_ns,
                                     account=self.window.account)
        first, last = one_row(
            self.con, f"SELECT epoch_ns(min(broker_ts)), epoch_ns(max(broker_ts)) FROM events {where}", params)
        return first, last

    def rejected_rows(self) -> int:
        return one_row(self.con, "SELECT count(*) FROM rejected_rows")[0]

    def record_batches(self, size: int = BATCH) -> Iterator[pa.RecordBatch]:
        """Events in arrival order as Arrow columns, ``size`` at a time, filtered by the window; memory stays flat.

        The backtest's path: the core decides these columns as they are. The next
        batch is read on a second thread while this one is decided.
        """
        window = self.window
        columns = arrow_batches(self.con.cursor(), since_ns=window.start_ns, until_ns=window.end_ns,
                                account=window.account, size=size)
        for batch in prefetched(columns):
            if batch.num_rows:
                yield batch

    def batches(self, size: int = BATCH) -> Iterator[EventBatch]:
        """:meth:`record_batches` with each event as its canonical dict too (for engines that take dicts)."""
        for batch in self.record_batches(size):
            yield decode(batch)

    def close(self) -> None:
        self.con.close()

    def sessions(self) -> dict[int, LogSession]:
        """Each log's traits and what the summary should say about it (one scan of the store)."""
        return read_sessions(self.con)


@dataclass(frozen=True)
class LogSession:
    """One stored log as the engine sees it: its traits, and the intents ingest made up from its submits."""

    ingest_id: int
    path: str
    traits: SessionTraits
    synthesized_intents: int

    def notes(self) -> list[str]:
        notes = self.traits.describe()
        if self.synthesized_intents:
            notes.append(f"{self.synthesized_intents:,} intents were taken from the log's own order messages "
                         "(a historical log records no write-ahead intents)")
        return notes

    def describe(self) -> dict[str, Any]:
        return {"ingest_id": self.ingest_id, "path": self.path, "traits": self.traits.to_dict(),
                "synthesized_intents": self.synthesized_intents, "notes": self.notes()}


def read_sessions(con: duckdb.DuckDBPyConnection) -> dict[int, LogSession]:
    """Read each log's :class:`~safeguards.session.SessionTraits` off its events.

    ``recv_ts`` is the broker's own clock when every stamped (broker or market)
    event took it from one (``extra.recv_ts_from`` in :data:`~safeguards.adapters.columns.BROKER_CLOCKS`);
    its resolution is a second (or a millisecond) when every stamped event's is;
    the log records intents when it holds any local event.
    """
    from ..adapters.columns import BROKER_CLOCKS

    clocks = ", ".join("'" + name.replace("'", "''") + "'" for name in sorted(BROKER_CLOCKS))
    rows = con.execute(f"""
        SELECT i.ingest_id, i.path,
               count(e.ingest_id) FILTER (e.source = 'local') AS local_events,
               count(e.ingest_id) FILTER (e.source <> 'local') AS stamped,
               count(e.ingest_id) FILTER (e.source <> 'local' AND e.extra->>'recv_ts_from' IN ({clocks})) AS broker_clocked,
               bool_and(epoch_ns(e.recv_ts) % 1000000000 = 0) FILTER (e.source <> 'local') AS whole_seconds,
               bool_and(epoch_ns(e.recv_ts) % 1000000 = 0) FILTER (e.source <> 'local') AS whole_millis,
               count(e.ingest_id) FILTER (e.extra->>'synthesized_from' IS NOT NULL) AS synthesized
        FROM ingests i LEFT JOIN events e USING (ingest_id)
        GROUP BY ALL ORDER BY i.ingest_id""").fetchall()
    sessions = {}
    for ingest_id, path, local, stamped, broker_clocked, seconds, millis, synthesized in rows:
        own_clock = not (stamped and broker_clocked == stamped)
        resolution = 1_000_000_000 if seconds else 1_000_000 if millis else 0
        traits = SessionTraits(own_clock=own_clock, clock_resolution_ns=resolution if own_clock else 0,
                               records_intents=bool(local))
        sessions[ingest_id] = LogSession(ingest_id, path, traits, synthesized)
    return sessions


def log_stretches(batch: EventBatch) -> list[tuple[int, int, int]]:
    """``(start, stop, ingest_id)``: the batch cut wherever the next event comes from another of the store's logs.

    Each log numbers its broker messages on its own (:meth:`Engine.use_session`),
    and each stretch's alerts are its log's.
    """
    logs = batch.columns.column("ingest_id").to_numpy()
    if len(logs) == 0:
        return []
    cuts = [0, *(np.flatnonzero(logs[1:] != logs[:-1]) + 1).tolist(), len(logs)]
    return [(start, stop, int(logs[start])) for start, stop in zip(cuts, cuts[1:])]


def from_database(path: str | Path, window: Window = Window()) -> EventSource:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--db {path}: no such database; load logs first with `safeguards ingest LOG --db {path}`")
    con = _capped(open_store(path))
    digests = [row[0] for row in con.execute("SELECT sha256 FROM ingests ORDER BY ingest_id").fetchall()]
    if not digests:
        con.close()
        raise UsageError(f"--db {path}: holds no ingested logs; run `safeguards ingest LOG --db {path}`")
    return EventSource(con, path, str(path), digests, window)


def from_log(log: str | Path, db_path: str | Path, window: Window = Window()) -> EventSource:
    """Ingest ``log`` into a fresh database at ``db_path`` (replaced if present) and open it."""
    from ..adapters import AdapterOptions, guess_format, stager  # here: a backtest of a store needs no adapter (nor polars)
    from ..store import ingest_file

    log, db_path = Path(log), Path(db_path)
    if not log.is_file():
        raise UsageError(f"--events {log}: no such file")
    for stale in (db_path, db_path.with_name(db_path.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = _capped(open_store(db_path))
    try:
        format = guess_format(log)
        options = AdapterOptions()
        ingest_file(con, log, format, stager(format, options, None), options.describe())
    except BaseException:
        con.close()
        raise
    digests = [row[0] for row in con.execute("SELECT sha256 FROM ingests ORDER BY ingest_id").fetchall()]
    return EventSource(con, db_path, str(log), digests, window)
