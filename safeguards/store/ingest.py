"""Ingest one file: digest, skip if already loaded, stage with an adapter, load, commit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from .database import LoadResult, file_digest, find_ingest, load_staged, utc_now

#: An adapter's staging step: create relation ``name`` from the file; return how many
#: records it skipped on purpose (e.g. FIX heartbeats), which are counted, not stored.
Stager = Callable[[duckdb.DuckDBPyConnection, Path, str], int]

STAGED = "staged_rows"


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a temporary view or table by name, whichever it is."""
    if con.execute("SELECT 1 FROM duckdb_views() WHERE view_name = ? AND temporary", [name]).fetchone():
        con.execute(f"DROP VIEW {name}")
    elif con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = ? AND temporary", [name]).fetchone():
        con.execute(f"DROP TABLE {name}")


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    format: str,
    stage: Stager,
    options: dict[str, Any] | None = None,
) -> LoadResult:
    """Load ``path`` into the store once; a second load of the same bytes changes nothing."""
    digest = file_digest(path)
    earlier = find_ingest(con, digest)
    if earlier is not None:
        return LoadResult(str(path), format, earlier[0], already_ingested=True)
    started = utc_now()
    con.execute("BEGIN TRANSACTION")
    try:
        skipped = stage(con, path, STAGED)
        result = load_staged(
            con, STAGED, path=str(path), digest=digest, format=format, skipped=skipped,
            options=options, started_at=started,
        )
        drop_relation(con, STAGED)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result
