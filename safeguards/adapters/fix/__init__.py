"""FIX logs, read as they are: every common engine and logger dialect, FIX 4.0-4.4 and FIXT.1.1/FIX 5.0.

Modules: :mod:`.dialects` (where messages sit on a line, which delimiter),
:mod:`.framing` (one message's fields, checked as a FIX engine checks them),
:mod:`.sequence` (MsgSeqNum per sender: holes, re-sends, resets), :mod:`.mapping`
(which canonical event a message is), :mod:`.times` (FIX and logger times), and
:mod:`.reader`, which puts them together (identity, times, intents: see there).
What a FIX engine would refuse is a rejected row with its reason and place (the
rest of the log loads); session messages (heartbeats, logons...) are skipped and
counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from ...errors import IngestError
from ...store.ingest import Staged
from .dialects import looks_like
from .framing import encode
from .reader import (COLUMNS, EXTRA_COLUMNS, INTENT_MODES, INTENTS_FROM_SUBMITS, INTENTS_NONE, FixReader,
                     Progress)
from .times import parse_fix_time

if TYPE_CHECKING:
    import polars as pl

FORMAT = "fix"
SKIPPED_WHAT = "FIX session messages"

__all__ = ["COLUMNS", "FORMAT", "INTENTS_FROM_SUBMITS", "INTENTS_NONE", "INTENT_MODES", "FixReader", "encode",
           "looks_like", "parse_fix_time", "read_fix", "stage"]


def read_fix(path: Path, intents: str = INTENTS_FROM_SUBMITS, progress: Progress | None = None,
             lenient: bool = False) -> tuple[pl.DataFrame, FixReader]:
    """Parse a FIX log into staged rows; return them and the reader (its counts and notes)."""
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as error:
        raise IngestError(f"{path}: cannot read ({error.strerror})") from None
    reader = FixReader(intents, lenient)
    reader.read_text(text, progress)
    return reader.frame(), reader


def stage(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, intents: str = INTENTS_FROM_SUBMITS,
    progress: Progress | None = None, lenient: bool = False,
) -> Staged:
    """Create the staged table ``name`` from a FIX log; ``extra`` is assembled here, in SQL."""
    frame, reader = read_fix(path, intents, progress, lenient)
    pairs = ", ".join(f"'{column}', {column}" for column in EXTRA_COLUMNS)
    con.register(f"{name}_frame", frame)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * EXCLUDE ({', '.join(EXTRA_COLUMNS)}), "
            f"CASE WHEN pre_reason IS NULL THEN json_merge_patch('{{}}', json_object({pairs}, 'fix_message', raw)) "
            f"END AS extra FROM {name}_frame"
        )
    finally:
        con.unregister(f"{name}_frame")
    return Staged(reader.skipped, SKIPPED_WHAT, tuple(reader.notes()))
