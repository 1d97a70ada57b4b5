"""Ingest one file: unpack if compressed, digest, skip if already loaded, stage with an adapter, load, commit."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from ..errors import IngestError
from .compressed import packed_digest, unpacked
from .database import LoadResult, Piece, find_ingest, load_staged, utc_now
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
) -> LoadResult:
    """Load ``path`` into the store once; a second load of the same bytes (or of them compressed) changes nothing.

    ``progress``, if given, hears how far the load has got while it runs.
    """
    started = utc_now()
    packed = packed_digest(path)
    if packed is not None and (earlier := find_ingest(con, packed, packed=True)) is not None:
        return LoadResult(str(path), format, earlier[0], already_ingested=True)
    with unpacked(path, progress.unpacked if progress else None) as (plain, digest, compression):
        if (earlier := find_ingest(con, digest)) is not None:
            return LoadResult(str(path), format, earlier[0], already_ingested=True)
        if compression is not None:
            options = {**(options or {}), "compression": compression, "packed_sha256": packed}
        with progress or contextlib.nullcontext():
            return _load_in_one_transaction(con, path, plain, digest, format, stage, options, started, progress)


def _load_in_one_transaction(
    con: duckdb.DuckDBPyConnection, path: Path, plain: Path, digest: str, format: str, stage: Stager,
    options: dict[str, Any] | None, started: datetime, progress: LoadProgress | None,
) -> LoadResult:
    """Stage ``plain`` (``path``, unpacked), then store it in one transaction: all of it, or nothing.

    Staging writes only this connection's temporary tables and views, so it runs before
    the transaction: DuckDB then reports its progress (a scan of rows written in the
    same transaction reads as done from the start), and the store is touched only inside.
    """
    began = committed = False
    try:
        with interruptible(con):  # left before ROLLBACK, so that no late interrupt can hit it
            staged = stage(con, plain, STAGED)
            if not isinstance(staged, Staged):
                staged = Staged(staged)
            if staged.notes:
                options = {**(options or {}), "notes": list(staged.notes)}
            if progress is not None:
                progress.storing()
            con.execute("BEGIN TRANSACTION")
            began = True
            result = load_staged(
                con, STAGED, path=str(path), digest=digest, format=format, skipped=staged.skipped,
                options=options, started_at=started, first_piece=staged.first_piece, pieces=staged.rest or (),
            )
            con.execute("COMMIT")
            committed = True
            return dataclasses.replace(result, skipped_what=staged.skipped_what, notes=staged.notes)
    except duckdb.Error as error:
        message = str(error).split("\n", 1)[0]
        raise IngestError(f"{path}: cannot be read as {format} ({message})") from None
    finally:
        if began and not committed:
            with contextlib.suppress(duckdb.TransactionException):  # an interrupted COMMIT may have ended it
                con.execute("ROLLBACK")
        drop_staging(con)
