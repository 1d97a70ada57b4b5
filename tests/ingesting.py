"""Helpers shared by the store, adapter and ingest-command tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from safeguards.adapters import AdapterOptions, stager
from safeguards.store.database import LoadResult, open_store
from safeguards.store.ingest import ingest_file

REAL_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"


def real_file(relative: str) -> Path:
    """A file of the real FIX material beside the clone; skip the test if it is absent."""
    path = REAL_DATA / relative
    if not path.is_file():
        pytest.skip(f"real FIX data not found at {path.resolve()} (the shared/ folder beside the clone)")
    return path


def ingest(con: duckdb.DuckDBPyConnection, path: Path, format: str, **options: Any) -> LoadResult:
    adapter_options = AdapterOptions(**options)
    return ingest_file(con, path, format, stager(format, adapter_options), adapter_options.describe())


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Query results as dicts."""
    result = con.execute(sql, list(params))
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


def rejected(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(location, reason) of every rejected row, in file order."""
    return con.execute("SELECT location, reason FROM rejected_rows ORDER BY ingest_id, row_number").fetchall()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh event database in a temporary directory."""
    con = open_store(tmp_path / "events.duckdb")
    yield con
    con.close()
