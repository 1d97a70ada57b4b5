"""Ingest one file: unpack if compressed, digest, skip if already loaded, stage with an adapter, load, commit."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from ..errors import IngestError
from .compressed import packed_digest, unpacked
from .database import Growing, LoadResult, Piece, find_ingest, forget_log, last_row, load_staged, one_row, utc_now
from .logs import Relation, Survey, record_checkpoints, relation, same_file, stored_offsets, survey
from .interrupt import interruptible
from .progress import LoadProgress



@dataclass(frozen=True)
class Staged:
    """What staging tells the load beside the rows: what it skipped on purpose, and notes for the summary.

    ``skipped_what`` names the skipped records in the adapter's words (FIX session
    messages, OKX subscription acks...); ``notes`` say once how the file was read (its
    dialect, an inferred time zone), and are kept with the load in ``ingests.options``.
    """

    skipped: int = 0
    skipped_what: str = "records skipped on purpose"
    notes: tuple[str, ...] = ()
    #: A file staged in pieces: the first piece (None: the whole file is staged as one relation)...
    first_piece: Piece | None = None
    #: ...and the rest: each step stages the next piece as the same relation (see ``load_staged``).
    rest: Iterator[Piece] | None = dataclasses.field(default=None, compare=False)


#: An adapter's staging step: create relation ``name`` from the file; return how many
#: records it skipped on purpose (e.g. FIX heartbeats), which are counted, not stored,
#: as a plain count or as :class:`Staged` with the adapter's words for them.
#: Helper relations it creates are named ``name`` + a suffix, and dropped with it.
Stager = Callable[[duckdb.DuckDBPyConnection, Path, str], int | Staged]

STAGED = "staged_rows"

#: DuckDB's memory during a load (its default is 80% of the machine's): a file staged piece by piece is
#: bounded by a piece, but the rows it stores stay in DuckDB's buffers until the commit unless it is told
#: to spill them (1 GB of garbage with an event in every thousand lines: 19.4 GB peak RSS without a limit,
#: about 1.2 GB with it, bench/bench_ingest_garbage.py; a valid 1M-line log takes 10-25% longer).
LOAD_MEMORY = 1 << 30


@contextlib.contextmanager
def bounded_memory(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's memory_limit at most :data:`LOAD_MEMORY` while the block runs (a lower one is kept)."""
    before = one_row(con, "SELECT current_setting('memory_limit')")[0]
    current = _bytes(before)
    if current is not None and current <= LOAD_MEMORY:
        yield
        return
    con.execute(f"SET memory_limit = '{LOAD_MEMORY}B'")
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):  # an interrupted load may have closed the connection
            con.execute(f"SET memory_limit = '{before}'")


def _bytes(setting: str) -> int | None:
    """DuckDB's memory figure (``953.6 MiB``, ``18.4 GiB``) in bytes."""
    units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
             "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
    number, _, unit = setting.strip().partition(" ")
    try:
        return int(float(number) * units[unit or "B"])
    except (ValueError, KeyError):
        return None


def drop_staging(con: duckdb.DuckDBPyConnection, prefix: str = STAGED) -> None:
    """Drop the temporary views and tables staging created (views first: they use the tables)."""
    for kind, catalog, column in (("VIEW", "duckdb_views()", "view_name"), ("TABLE", "duckdb_tables()", "table_name")):
        names = con.execute(
            f"SELECT {column} FROM {catalog} WHERE temporary AND starts_with({column}, ?)", [prefix]
        ).fetchall()
        for (name,) in names:
            con.execute(f'DROP {kind} IF EXISTS "{name}"')


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    format: str,
    stage: Stager,
    options: dict[str, Any] | None = None,
    progress: LoadProgress | None = None,
    replace: bool = False,
) -> LoadResult:
    """Load ``path`` into the store once; a second load of the same bytes (or of them compressed) changes nothing.

    A file that is a stored log grown since loads only its new rows, into that log; one that is part of a
    stored log is already stored (see :mod:`.logs`). With ``replace``, the stored log the file is (the
    same bytes, the same log grown or cut, or else the log loaded from the same path) is removed, and the
    file loaded in its place, under its id: to load a log again with other options (a column mapping).
    ``progress``, if given, hears how far the load has got while it runs.
    """
    started = utc_now()
    packed = packed_digest(path)
    if not replace and packed is not None and (earlier := find_ingest(con, packed, packed=True)) is not None:
        return LoadResult(str(path), format, earlier[0], already_ingested=True)
    with unpacked(path, progress.unpacked if progress else None) as (plain, _, compression):
        new = survey(plain, stored_offsets(con))
        earlier = find_ingest(con, new.digest)
        related = relation(con, path, new)
        if compression is not None:
            options = {**(options or {}), "compression": compression, "packed_sha256": packed}
        load = functools.partial(_load_in_one_transaction, con, path, plain, new, format, stage, started=started,
                                 progress=progress)
        if replace:
            target = _replaced(con, path, earlier, related)
            with progress or contextlib.nullcontext():
                return load(options, replacing=target)
        if earlier is not None:
            return LoadResult(str(path), format, earlier[0], already_ingested=True)
        if related is not None:
            if related.kind == "part":
                return LoadResult(str(path), format, related.log.ingest_id, already_ingested=True, relation="part",
                                  shared=related.shared)
            _refuse_unless_grown(path, format, options, related)
            with progress or contextlib.nullcontext():
                return load(options, grown=related)
        with progress or contextlib.nullcontext():
            return load(options)


def _replaced(
    con: duckdb.DuckDBPyConnection, path: Path, earlier: tuple[int, str] | None, related: Relation | None
) -> int | None:
    """The log ``--replace`` replaces: the same bytes, else the same log longer or shorter, else the last log
    loaded from the same path; None if there is none."""
    if earlier is not None:
        return earlier[0]
    if related is not None:
        return related.log.ingest_id
    same_path = [ingest_id for ingest_id, stored in con.execute(
        "SELECT ingest_id, path FROM ingests ORDER BY ingest_id DESC").fetchall() if same_file(path, stored)]
    return same_path[0] if same_path else None


def _refuse_unless_grown(path: Path, format: str, options: dict[str, Any] | None, related: Relation) -> None:
    """IngestError unless ``path`` is the stored log grown since, to be read the same way."""
    log = related.log
    where = f"ingest {log.ingest_id} ({log.path})"
    redo = f"to load it whole in place of ingest {log.ingest_id}, run the same command with --replace"
    if related.kind == "cut":
        raise IngestError(
            f"{path}: begins with the {log.end:,} bytes of {where}, which was loaded while its last line had no "
            f"newline yet, and that line has changed since: its last row may have been cut; nothing was stored; "
            f"{redo}")
    if related.kind == "differs":
        raise IngestError(
            f"{path}: its first {related.shared:,} bytes are those of {where}, but then it differs: it is neither "
            f"that log grown since nor a part of it; nothing was stored; if it is that log corrected, {redo}")
    if related.kind == "unknown":
        raise IngestError(
            f"{path}: its first {related.shared:,} bytes are those of {where}, and it ends before the next part "
            f"of that log the store can compare ({log.path} no longer holds those bytes), so whether it is a part "
            f"of that log cannot be told; nothing was stored; {redo}")
    stored = json.loads(log.options)
    wanted = {key: value for key, value in (options or {}).items() if key not in _NOT_READING_OPTIONS}
    if log.format != format or any(stored.get(key) != value for key, value in wanted.items()):
        raise IngestError(
            f"{path}: is {where} grown since, but that was read as {log.format} with "
            f"{_describe({k: stored.get(k) for k in wanted})}, and this is to be read as {format} with "
            f"{_describe(wanted)}; nothing was stored; {redo}")


#: Options recorded with a load that say nothing about how its rows were read.
_NOT_READING_OPTIONS = ("compression", "packed_sha256", "notes")


def _describe(options: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value!r}" for key, value in sorted(options.items())) or "no options"


def _load_in_one_transaction(
    con: duckdb.DuckDBPyConnection, path: Path, plain: Path, new: Survey, format: str, stage: Stager,
    options: dict[str, Any] | None, *, started: datetime, progress: LoadProgress | None,
    replacing: int | None = None, grown: Relation | None = None,
) -> LoadResult:
    """Stage ``plain`` (``path``, unpacked), then store it in one transaction: all of it, or nothing.

    Staging writes only this connection's temporary tables and views, so (the first piece of) it
    runs before the transaction: DuckDB then reports its progress (a scan of rows written in the
    same transaction reads as done from the start), and the store is touched only inside. A file
    staged in pieces stages the next ones inside, each after the one before is stored.
    """
    began = committed = False
    try:
        with interruptible(con), bounded_memory(con):  # left before ROLLBACK, so that no late interrupt can hit it
            staged = stage(con, plain, STAGED)
            if not isinstance(staged, Staged):
                staged = Staged(staged)
            if staged.notes:
                options = {**(options or {}), "notes": list(staged.notes)}
            if progress is not None:
                progress.storing()
            con.execute("BEGIN TRANSACTION")
            began = True
            replaced = forget_log(con, replacing) if replacing is not None else None
            growing = None
            if grown is not None:
                log = grown.log.ingest_id
                growing = Growing(log, last_row(con, log), one_row(
                    con, "SELECT rows_skipped FROM ingests WHERE ingest_id = ?", [log])[0])
            result = load_staged(
                con, STAGED, path=str(path), digest=new.digest, format=format, skipped=staged.skipped,
                options=options, started_at=started, first_piece=staged.first_piece, pieces=staged.rest or (),
                ingest_id=replacing, growing=growing,
            )
            end = new.size if not result.held_back else (new.last_newline[0] if new.last_newline else 0)
            assert result.ingest_id is not None
            record_checkpoints(con, result.ingest_id, new, end, after=grown.log.end if grown else 0)
            con.execute("COMMIT")
            committed = True
            return dataclasses.replace(
                result, skipped_what=staged.skipped_what, notes=staged.notes, end=end, replaced=replaced,
                relation="grown" if grown else None, shared=grown.shared if grown else 0)
    except duckdb.Error as error:
        message = str(error).split("\n", 1)[0]
        raise IngestError(f"{path}: cannot be read as {format} ({message})") from None
    finally:
        if began and not committed:
            with contextlib.suppress(duckdb.TransactionException):  # an interrupted COMMIT may have ended it
                con.execute("ROLLBACK")
        drop_staging(con)
