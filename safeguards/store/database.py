"""Opening the event store and loading one staged file into it, atomically and once.

A file is identified by the sha256 of its bytes: loading the same bytes again (under
any name) is reported as already ingested and changes nothing. Each load is one
transaction: the ``ingests`` record, the events and the rejected rows appear
together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from ..errors import StoreError
from ..events import FIELDS, STR
from .checks import BOOKKEEPING, checked_select, ident, lit
from .schema import migrate

_CHUNK = 1 << 20


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


def open_store(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) an event database, migrated to the current schema."""
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as error:
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


def find_ingest(con: duckdb.DuckDBPyConnection, digest: str) -> tuple[int, str] | None:
    """(ingest_id, path) of an earlier load of the same bytes, if any."""
    row = con.execute("SELECT ingest_id, path FROM ingests WHERE sha256 = ?", [digest]).fetchone()
    return (row[0], row[1]) if row else None


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
) -> LoadResult:
    """Check every row of the relation ``staged`` and store it as an event or a rejected row.

    Runs inside the caller's transaction (see :func:`safeguards.store.ingest.ingest_file`).
    A staged view is evaluated more than once, so adapters whose staging is costly
    (parsing text) stage into a temporary table.
    """
    columns = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {staged})").fetchall())
    if "row_number" not in columns:
        raise StoreError(f"internal: staged relation for {path} has no row_number column")
    ingest_id = con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchone()[0]
    checked = checked_select(staged, columns)
    names = ", ".join(ident(name) for name in FIELDS)
    # Typed input (Parquet) is checked twice, once per destination: re-evaluating the
    # checks costs less than writing every row to a temporary table first. Text input
    # (CSV, JSON) is cast and parsed once, into a temporary table, as casts cost more.
    if _casts_text(columns):
        con.execute(f"CREATE OR REPLACE TEMP TABLE checked_rows AS {checked}")
        checked = "SELECT * FROM checked_rows"
    loaded = con.execute(
        f"INSERT INTO events SELECT {ingest_id}, row_number, {names}, extra FROM ({checked}) WHERE reason IS NULL"
    ).fetchone()[0]
    total = con.execute(f"SELECT count(*) FROM {staged}").fetchone()[0]  # Parquet: from metadata
    location = "coalesce(s.location, 'row ' || c.row_number)" if "location" in columns else "'row ' || c.row_number"
    rejected = 0 if loaded == total else con.execute(
        f"INSERT INTO rejected_rows SELECT {ingest_id}, ?, c.row_number, {location}, c.reason, {_raw_expression(columns)} "
        f"FROM ({checked}) AS c JOIN {staged} AS s ON s.row_number = c.row_number "
        f"WHERE c.reason IS NOT NULL ORDER BY c.row_number",
        [path],
    ).fetchone()[0]
    con.execute("DROP TABLE IF EXISTS checked_rows")
    reasons = dict(con.execute(
        "SELECT reason, count(*) FROM rejected_rows WHERE ingest_id = ? GROUP BY reason ORDER BY 2 DESC, 1",
        [ingest_id],
    ).fetchall())
    con.execute(
        "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [ingest_id, path, digest, format, loaded, rejected, skipped, started_at or utc_now(), utc_now(),
         json.dumps(options or {}, sort_keys=True)],
    )
    return LoadResult(path, format, ingest_id, loaded, rejected, skipped, reasons=reasons)


def _casts_text(columns: dict[str, str]) -> bool:
    """Whether some canonical field must be parsed from text (costly enough to do once)."""
    return any(columns.get(name) == "VARCHAR" for name, kind in FIELDS.items() if kind != STR)


def _raw_expression(columns: dict[str, str]) -> str:
    """The rejected row's text: the adapter's raw text, else the staged row as JSON."""
    data = [name for name in columns if name not in BOOKKEEPING]
    as_json = "to_json({" + ", ".join(f"{lit(n)}: s.{ident(n)}" for n in data) + "})::VARCHAR"
    if "raw" in columns:
        return f"coalesce(s.raw, {as_json})" if data else "s.raw"
    return as_json if data else "NULL"

