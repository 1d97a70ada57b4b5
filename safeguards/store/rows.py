"""Single rows from DuckDB: read to the end of their result, so the connection is free for what comes next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from ..errors import StoreError


def first_row(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    """The first row of a query of at most a few rows, or None; the result is read to its end.

    DuckDB 2 keeps a result open after ``fetchone()`` until it is read to its end, and refuses
    some later calls on the connection (``register``) while it is: so single rows come from here.
    """
    rows = con.execute(query, list(params)).fetchall()
    return rows[0] if rows else None


def one_row(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
    """The one row of a query that always has one (an aggregate, an INSERT's count)."""
    row = first_row(con, query, params)
    if row is None:
        raise StoreError(f"internal: no row from {query[:80]!r}")
    return row
