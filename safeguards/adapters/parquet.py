"""Parquet, read natively by DuckDB; typed columns are used as they are, others cast and checked.

Column names that differ from ours are mapped with ``mapping`` (their name -> our
field); other columns are kept in ``extra``. Row numbers are the file's own row
order (DuckDB's ``file_row_number``), 1-based.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

from ..errors import IngestError
from ..store.checks import lit
from .columns import mapped_select

FORMAT = "parquet"
MAGIC = b"PAR1"


def looks_like(head: bytes) -> bool:
    return head.startswith(MAGIC)


def stage(con: duckdb.DuckDBPyConnection, path: Path, name: str, mapping: Mapping[str, str] | None = None) -> int:
    """Create the staged view ``name`` over the Parquet file."""
    source = f"SELECT file_row_number + 1 AS row_number, * EXCLUDE (file_row_number) " \
             f"FROM read_parquet({lit(str(path))}, file_row_number = true)"
    try:
        columns = [row[0] for row in con.execute(f"SELECT column_name FROM (DESCRIBE {source})").fetchall()]
    except duckdb.Error as error:
        message = str(error).split("\n", 1)[0]
        raise IngestError(f"{path}: cannot be read as parquet ({message})") from None
    columns.remove("row_number")
    good = mapped_select(source, ["row_number", *columns], mapping or {}, str(path), keep=("row_number",))
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM ({good})")
    return 0
