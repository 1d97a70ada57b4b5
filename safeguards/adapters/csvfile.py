"""CSV with a header row, read by DuckDB's CSV reader as text and typed by the store's checks.

The separator (comma, semicolon, tab or '|') is DuckDB's to detect; quoting is RFC 4180's.

Lines the reader cannot split (too many or too few columns, bad quoting) are not
skipped: DuckDB's reject store hands them back with their line number and text, and
they become rejected rows. Column names that differ from ours are mapped with
``mapping`` (their name -> our field); other columns are kept in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

from ..store.checks import lit
from ..store.database import one_row
from .columns import mapped_select

FORMAT = "csv"
#: RFC 4180 quoting, and no comment lines, whatever the data looks like: DuckDB's sniffer
#: otherwise took ' for the quote when a value was '' (and read it as empty), and could
#: take a leading # for a comment and skip the line.
_QUOTING = "quote = '\"', escape = '\"', comment = ''"
_ROW = "__safeguards_row"  # the data row number, named so it cannot clash with a file's column


#: Separators DuckDB's reader detects on its own: European exports use ';', others tabs or '|'.
SEPARATORS = (",", ";", "\t", "|")


def looks_like(head: str) -> bool:
    """A first line of separated names, one of them a canonical-looking one."""
    first = head.split("\n", 1)[0].strip().lower()
    return (any(s in first for s in SEPARATORS) and not first.startswith("{")
            and any(n in first for n in ("type", "order", "source")))


def stage(con: duckdb.DuckDBPyConnection, path: Path, name: str, mapping: Mapping[str, str] | None = None) -> int:
    """Materialize the parsed CSV, then create the staged view ``name`` over it.

    A row's number is its position among the file's well-formed rows, the order in
    which DuckDB stores a parallel read; a malformed line is numbered after them, and
    its location is its line.
    """
    rejects = f"{name}_csv_rejects"
    scans = f"{name}_csv_scans"
    # Read, then number in a view: numbering as it reads (row_number() over read_csv) made
    # DuckDB parse the file on one core, and a numbered copy costs memory. 5M rows (875 MB):
    # 11.3 s and 1.9-2.0 GB peak before, 8.4-8.6 s and 1.8-1.9 GB after (`safeguards ingest`).
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name}_csv_read AS SELECT * FROM read_csv({lit(str(path))}, header = true, "
        f"all_varchar = true, {_QUOTING}, store_rejects = true, rejects_table = {lit(rejects)}, "
        f"rejects_scan = {lit(scans)})"
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name}_csv AS SELECT row_number() OVER () AS {_ROW}, * "
                f"FROM {name}_csv_read")
    columns = [row[0] for row in con.execute(f"SELECT column_name FROM (DESCRIBE {name}_csv)").fetchall()][1:]
    good = mapped_select(
        f"SELECT {_ROW} AS row_number, * EXCLUDE ({_ROW}) FROM {name}_csv", ["row_number", *columns],
        mapping or {}, str(path), keep=("row_number",),
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name}_csv_bad AS SELECT line, any_value(csv_line) AS raw, "
        f"arg_min(error_message, column_idx) AS message FROM {rejects} GROUP BY line"  # the first error of the line
    )
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {scans}")
    total = one_row(con, f"SELECT count(*) FROM {name}_csv_read")[0]
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {name} AS
SELECT *, NULL::VARCHAR AS location, NULL::VARCHAR AS raw, NULL::VARCHAR AS pre_reason FROM ({good})
UNION ALL BY NAME
SELECT {total} + row_number() OVER (ORDER BY line) AS row_number, 'line ' || line AS location, raw,
       'malformed CSV line: ' || message AS pre_reason FROM {name}_csv_bad"""
    )
    return 0
