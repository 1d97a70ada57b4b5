"""Opening the event store and loading one staged file into it, atomically and once.

A file is identified by the sha256 of its bytes (unpacked, if it is compressed): loading
the same bytes again (under any name, packed or not) is reported as already ingested
and changes nothing. Each load is one transaction: the ``ingests`` record, the events
and the rejected rows appear together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from ..errors import IngestError, StoreError
from ..events import FIELDS
from .rows import first_row, one_row
from .checks import BOOKKEEPING, checked_select, ident, lit
from .schema import migrate, shape_table, shape_tables

_CHUNK = 1 << 20

#: The temporary table of a piece's rows that did not become events (dropped after use).
STAGED_UNLOADED = "staged_rows_unloaded"


def logs_interleave(con: duckdb.DuckDBPyConnection, where: str = "", params: Sequence[Any] = ()) -> bool:
    """Whether replaying the logs one after another (by ingest) would take arrival time backwards.

    True when a log begins (its first ``recv_ts``) before the one ingested before
    it ends: two venues' logs of the same day, or days ingested out of order.
    """
    spans = con.execute(f"SELECT min(recv_ts), max(recv_ts) FROM events {where} GROUP BY ingest_id ORDER BY ingest_id",
                        list(params)).fetchall()
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))


def logs_overlap(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether two of the store's logs span overlapping times (``recv_ts``), whatever order they were ingested in."""
    spans = con.execute("SELECT min(recv_ts), max(recv_ts) FROM events GROUP BY ingest_id ORDER BY 1").fetchall()
    reached = None
    for start, end in spans:
        if reached is not None and start < reached:
            return True
        reached = end if reached is None else max(reached, end)
    return False


def utc_now() -> datetime:
    """Now, as the naive UTC datetime DuckDB's TIMESTAMP columns hold."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks so large logs do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class LoadResult:
    """What one file contributed: counts, and rejection reasons with their counts."""

    path: str
    format: str
    ingest_id: int | None
    loaded: int = 0
    rejected: int = 0
    skipped: int = 0
    already_ingested: bool = False
    reasons: dict[str, int] = field(default_factory=dict)
    skipped_what: str = "records skipped on purpose"  # the adapter's words for what it skipped
    notes: tuple[str, ...] = ()  # how the adapter read the file, said once
    #: Bytes of the file the load covers: all, or through its last newline when its last line, still being
    #: written, was held back (a load that changed nothing: None).
    end: int | None = None
    held_back: bool = False
    #: The file is a stored log grown since: ``grown`` (its new rows were loaded into that log, ingest_id),
    #: or a part of one already stored: ``part``; ``shared`` is how many first bytes they share.
    relation: str | None = None
    shared: int = 0
    #: ``--replace``: what the load replaced (ingest id, path, rows loaded and rejected, options).
    replaced: tuple[int, str, int, int, str] | None = None


def open_store(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) an event database, migrated to the current schema."""
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as error:
        holder = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(error))
        if holder:  # DuckDB lets one process write a database at a time
            raise StoreError(f"{path}: in use by another process (PID {holder[2]}, {holder[1]}); wait for it "
                             f"to finish, or stop it, then run this again") from None
        raise StoreError(f"{path}: cannot open as a DuckDB database ({error})") from None
    try:
        con.execute("SET TimeZone = 'UTC'")
    except duckdb.Error:
        pass  # without ICU there are no TIMESTAMPTZ values to convert anyway
    try:
        migrate(con, str(path))
    except Exception:
        con.close()
        raise
    return con


def find_ingest(con: duckdb.DuckDBPyConnection, digest: str, packed: bool = False) -> tuple[int, str] | None:
    """(ingest_id, path) of an earlier load of the same bytes, if any; with ``packed``, of the same
    compressed file (its own bytes' digest is kept in the options), found without unpacking it again."""
    where = "options->>'packed_sha256' = ?" if packed else "sha256 = ?"
    row = first_row(con, f"SELECT ingest_id, path FROM ingests WHERE {where}", [digest])
    return (row[0], row[1]) if row else None


#: A file staged in pieces (JSON lines) whose first piece, of this many bytes, holds rows but no valid event is
#: given up on, nothing stored, when more of it follows: 1 GB of garbage is no log, and storing it as rejected
#: rows is no help (issue 15 item 7). A file no larger is staged whole: each of its rows rejected with its reason.
GIVE_UP_BYTES = 8 << 20


@dataclass(frozen=True)
class Piece:
    """A further piece of a file, staged as the same relation as the one before it.

    ``through``: how many bytes of the file it and the pieces before it hold; ``more``:
    whether more of the file follows; ``skipped``: the records it skipped on purpose.
    """

    through: int
    more: bool
    skipped: int = 0
    #: The last piece of a file whose last line has no newline (yet): that line's row number.
    tail_row: int | None = None


@dataclass(frozen=True)
class Growing:
    """A load into a stored log grown since: its id, the last row number it has, the records it skipped."""

    ingest_id: int
    after_row: int
    skipped: int


def last_row(con: duckdb.DuckDBPyConnection, ingest_id: int) -> int:
    """The highest row number stored for log ``ingest_id`` (events and rejected rows); 0 if none."""
    return one_row(con, "SELECT coalesce(max(row_number), 0) FROM (SELECT row_number FROM events WHERE ingest_id = ? "
                        "UNION ALL SELECT row_number FROM rejected_rows WHERE ingest_id = ?)", [ingest_id, ingest_id])[0]


def forget_log(con: duckdb.DuckDBPyConnection, ingest_id: int) -> tuple[int, str, int, int, str]:
    """Remove log ``ingest_id`` (its events, rejected rows, checkpoints and ingest record) in the caller's
    transaction; return what it was: (id, path, rows loaded, rows rejected, options)."""
    row = one_row(con, "SELECT ingest_id, path, rows_loaded, rows_rejected, coalesce(CAST(options AS VARCHAR), '{}') "
                       "FROM ingests WHERE ingest_id = ?", [ingest_id])
    for table in shape_tables(con):
        con.execute(f"DELETE FROM {table} WHERE ingest_id = ?", [ingest_id])
    for table in ("rejected_rows", "log_checkpoints", "ingests"):
        con.execute(f"DELETE FROM {table} WHERE ingest_id = ?", [ingest_id])
    return row  # type: ignore[return-value]


def load_staged(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    *,
    path: str,
    digest: str,
    format: str,
    skipped: int = 0,
    options: dict[str, Any] | None = None,
    started_at: datetime | None = None,
    first_piece: Piece | None = None,
    pieces: Iterable[Piece] = (),
    ingest_id: int | None = None,
    growing: Growing | None = None,
) -> LoadResult:
    """Check every row of the relation ``staged`` and store it as an event or a rejected row.

    Runs inside the caller's transaction (see :func:`safeguards.store.ingest.ingest_file`).
    A file staged in pieces (``first_piece`` says how far the first reaches) is stored piece by
    piece: each step of ``pieces`` stages the next one as ``staged``, so memory is bounded by
    a piece, and a file whose first piece holds no valid event is given up on (:data:`GIVE_UP_BYTES`).
    A last line with no newline yet (``Piece.tail_row``) is stored only if it is a valid event: else it
    is being written, and is held back (``LoadResult.held_back``) until the file is loaded again.

    ``ingest_id``: the id the log gets (one it had before ``--replace``); ``growing``: the rows are
    more of a stored log, whose rows through ``growing.after_row`` are stored already.
    """
    if growing is not None:
        ingest_id = growing.ingest_id
    elif ingest_id is None:
        ingest_id = one_row(con, "SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests")[0]
    after = growing.after_row if growing is not None else 0
    held_back = False

    def store(piece: Piece | None) -> tuple[int, int]:
        nonlocal held_back
        upto = None
        if piece is not None and piece.tail_row is not None and not piece.more:
            held_back = not _is_valid_row(con, staged, piece.tail_row)
            upto = piece.tail_row - 1 if held_back else None
        return store_piece(con, staged, ingest_id, path, after_row=after, upto_row=upto)

    loaded, rejected = store(first_piece)
    if growing is None:  # a log grown since had events
        _give_up_if_no_event(con, path, ingest_id, loaded, rejected, first_piece)
    for piece in pieces:
        more_loaded, more_rejected = store(piece)
        loaded, rejected, skipped = loaded + more_loaded, rejected + more_rejected, skipped + piece.skipped
        if growing is None:
            _give_up_if_no_event(con, path, ingest_id, loaded, rejected, piece)
    reasons = dict(con.execute(
        "SELECT reason, count(*) FROM rejected_rows WHERE ingest_id = ? AND row_number > ? GROUP BY reason "
        "ORDER BY 2 DESC, 1", [ingest_id, after],
    ).fetchall())
    if growing is not None:
        skipped = max(skipped - growing.skipped, 0)  # the file was staged whole: its first part's skips again
        con.execute(
            "UPDATE ingests SET path = ?, sha256 = ?, rows_loaded = rows_loaded + ?, rows_rejected = rows_rejected "
            "+ ?, rows_skipped = rows_skipped + ?, finished_at = ? WHERE ingest_id = ?",
            [path, digest, loaded, rejected, skipped, utc_now(), ingest_id])
    else:
        con.execute(
            "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [ingest_id, path, digest, format, loaded, rejected, skipped, started_at or utc_now(), utc_now(),
             json.dumps(options or {}, sort_keys=True)],
        )
    return LoadResult(path, format, ingest_id, loaded, rejected, skipped, reasons=reasons, held_back=held_back)


def _is_valid_row(con: duckdb.DuckDBPyConnection, staged: str, row: int) -> bool:
    """Whether row ``row`` of ``staged`` is there and a valid event."""
    columns = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {staged})").fetchall())
    found = first_row(con, f"SELECT reason IS NULL FROM ({checked_select(staged, columns)}) WHERE row_number = ?",
                      [row])
    return bool(found and found[0])


def store_piece(
    con: duckdb.DuckDBPyConnection, staged: str, ingest_id: int, path: str, after_row: int = 0,
    upto_row: int | None = None,
) -> tuple[int, int]:
    """Store the rows of ``staged`` (those numbered above ``after_row`` and through ``upto_row``) as events of
    ``ingest_id`` or rejected rows; return (loaded, rejected).

    The checks run once over every row, straight into the table of the file's shape
    (the fields it has: see :mod:`.schema`) behind the ``events`` view; only when some rows
    were not loaded are those rows (found by row number) checked again for their reason.
    Rejected rows are few, so a second full pass or a temporary copy of every checked
    row would cost more than it saves. A staged view is evaluated more than once, so
    adapters whose staging is costly (parsing text) stage into a temporary table.
    """
    columns = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {staged})").fetchall())
    if "row_number" not in columns:
        raise StoreError(f"internal: staged relation for {path} has no row_number column")
    bounds = [f"row_number > {int(after_row)}"] if after_row else []
    bounds += [f"row_number <= {int(upto_row)}"] if upto_row is not None else []
    source = f"(SELECT * FROM {staged} WHERE {' AND '.join(bounds)})" if bounds else staged
    # Only the fields the file has are stored (seq always: absent, it is the row number);
    # the ``events`` view gives the others as NULL, and account as its default.
    stored = [name for name in FIELDS if name in columns or name == "seq"]
    table = shape_table(con, stored, extra="extra" in columns)
    names = ", ".join(ident(name) for name in stored) + (", extra" if "extra" in columns else "")
    first, last, total = one_row(con, f"SELECT min(row_number), max(row_number), count(*) FROM {source}")
    loaded = one_row(
        con, f"INSERT INTO {table} (ingest_id, row_number, {names}) SELECT {ingest_id}, row_number, {names} "
        f"FROM ({checked_select(source, columns)}) WHERE reason IS NULL"
    )[0]
    rejected = 0 if loaded == total else _store_rejected(con, source, columns, ingest_id, path, table, first, last)
    return loaded, rejected


def _give_up_if_no_event(
    con: duckdb.DuckDBPyConnection, path: str, ingest_id: int, loaded: int, rejected: int, piece: Piece | None
) -> None:
    """IngestError (the caller rolls back: nothing stored) when the pieces so far hold rows but no event, and
    more of the file follows (or they were more than :data:`GIVE_UP_BYTES`)."""
    if piece is None or loaded or not rejected or not (piece.more or piece.through > GIVE_UP_BYTES):
        return
    through = piece.through
    location, reason = one_row(
        con, "SELECT location, reason FROM rejected_rows WHERE ingest_id = ? ORDER BY row_number LIMIT 1", [ingest_id])
    raise IngestError(
        f"{path}: none of its first {rejected:,} row{'s' if rejected != 1 else ''} ({through:,} bytes) is a valid event (the first, {location}: "
        f"{reason[:200]}): not an event log of this format; nothing was stored. Check that this is the file "
        f"meant, or give --format if it is a log of another format")


def _store_rejected(
    con: duckdb.DuckDBPyConnection, staged: str, columns: dict[str, str], ingest_id: int, path: str, table: str,
    first: int, last: int,
) -> int:
    """Check again the staged rows (numbered ``first`` to ``last``) that did not become events, and store each
    with its reason."""
    unloaded = STAGED_UNLOADED
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {unloaded} AS SELECT * FROM {staged} WHERE row_number NOT IN "
        f"(SELECT row_number FROM {table} WHERE ingest_id = {ingest_id} AND row_number BETWEEN {first} AND {last})"
    )
    location = "coalesce(s.location, 'row ' || c.row_number)" if "location" in columns else "'row ' || c.row_number"
    rejected: int = one_row(
        con, f"INSERT INTO rejected_rows SELECT {ingest_id}, ?, c.row_number, {location}, c.reason, "
        f"{_raw_expression(columns)} FROM ({checked_select(unloaded, columns)}) AS c "
        f"JOIN {unloaded} AS s ON s.row_number = c.row_number ORDER BY c.row_number",
        [path],
    )[0]
    con.execute(f"DROP TABLE {unloaded}")
    return rejected


def _raw_expression(columns: dict[str, str]) -> str:
    """The rejected row's text: the adapter's raw text, else the staged row as JSON."""
    data = [name for name in columns if name not in BOOKKEEPING]
    as_json = "to_json({" + ", ".join(f"{lit(n)}: s.{ident(n)}" for n in data) + "})::VARCHAR"
    if "raw" in columns:
        return f"coalesce(s.raw, {as_json})" if data else "s.raw"
    return as_json if data else "NULL"

