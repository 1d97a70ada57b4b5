"""The store's ``decisions``: a view over each run's ``decisions.parquet``, not a second copy of every decision.

A backtest writes every decision to its run folder's ``decisions.parquet``; copying
them into a table as well cost about 1.2 CPU-s per million decisions and doubled
the disk they take. Since schema version 10 the store records which file holds a
run's decisions (``decision_files``) and ``decisions`` reads them, with the
``run_id`` in front, beside the rows stored by earlier versions
(``stored_decisions``). Readers see the same columns and types as before.

A file is named relative to the store's folder when it is inside it (a backtest
of ``--events`` keeps both in its run folder), else by its absolute path. The
view is made again after each run from the files that exist then: a run folder
removed since leaves its run without decisions in the view rather than every
query of it failing. A run folder re-run in place replaces the file, so the
store forgets the earlier run's decisions.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .sql import lit

#: The rows of runs made before version 10, as they were stored.
STORED_DECISIONS = "stored_decisions"


def store_folder(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The folder of the database file ``con`` writes (None in memory)."""
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return Path(rows[0][0]).resolve().parent if rows and rows[0][0] else None


def record_decisions(con: duckdb.DuckDBPyConnection, run_id: str, path: Path) -> None:
    """Name ``path`` as the decisions of ``run_id`` and make the view again; in the caller's transaction."""
    path, folder = path.resolve(), store_folder(con)
    named = os.path.relpath(path, folder) if folder is not None and path.is_relative_to(folder) else str(path)
    con.execute("DELETE FROM decision_files WHERE path = ? OR run_id = ?", [named, run_id])
    con.execute("INSERT INTO decision_files VALUES (?, ?)", [run_id, named])
    make_view(con)


def make_view(con: duckdb.DuckDBPyConnection) -> None:
    """``decisions``: the stored rows, then each recorded run's file that exists, under its ``run_id``."""
    folder = store_folder(con) or Path.cwd()
    branches = [f"SELECT * FROM {STORED_DECISIONS}"]
    for run_id, named in con.execute("SELECT run_id, path FROM decision_files ORDER BY run_id").fetchall():
        path = folder / named
        if path.is_file():
            branches.append(f"SELECT {lit(run_id)} AS run_id, * FROM read_parquet({lit(path.as_posix())})")
    con.execute("CREATE OR REPLACE VIEW decisions AS\n" + "\nUNION ALL BY NAME\n".join(branches))
