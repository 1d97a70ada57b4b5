"""Reading canonical events back out of the store, as the engine takes them.

The backtest replays these dicts through the same engine production runs, so they
come back exactly as DESIGN section 4 writes them: timestamps as integer
nanoseconds, absent fields absent (not None), and ``extra`` fields merged back in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from ..events import FIELDS, TS
from .checks import ident

_BATCH = 65_536


def read_events(
    con: duckdb.DuckDBPyConnection, ingest_ids: Sequence[int] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield stored events in log order (by ingest, then seq), as canonical dicts."""
    columns = ", ".join(
        f"epoch_ns({ident(name)}) AS {ident(name)}" if kind == TS else ident(name) for name, kind in FIELDS.items()
    )
    where = ""
    params: list[Any] = []
    if ingest_ids is not None:
        where = f"WHERE ingest_id IN ({', '.join('?' for _ in ingest_ids)})"
        params = list(ingest_ids)
    result = con.execute(
        f"SELECT {columns}, CAST(extra AS VARCHAR) FROM events {where} ORDER BY ingest_id, seq, row_number", params
    )
    names = list(FIELDS)
    while batch := result.fetchmany(_BATCH):
        for row in batch:
            event = {name: value for name, value in zip(names, row) if value is not None}
            extra = row[-1]
            if extra is not None:
                for key, value in json.loads(extra).items():
                    event.setdefault(key, value)
            yield event
