"""Reading canonical events back out of the store, as the engine takes them.

The backtest replays these dicts through the same engine production runs, so they
come back exactly as DESIGN section 4 writes them: timestamps as integer
nanoseconds, absent fields absent (not None), and ``extra`` fields merged back in.

Rows leave DuckDB as Arrow record batches and become dicts column-wise: a batch
is split by *shape* (which fields are present), each shape's columns are turned
into Python lists once (only the columns it has; fields with few distinct values,
such as ``type`` or ``symbol``, as shared str objects rather than a new one per
event), and each row's dict is built by a small function
generated per shape (a dict display with constant keys, the cheapest dict
CPython makes). Keys keep the canonical order, and each event's shape comes
along as the tuple of its canonical fields: what
:meth:`~safeguards.core.Engine.process_stored` takes in place of screening
the event again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..events import FIELDS, TS
from .checks import ident
from .database import logs_interleave

_BATCH = 65_536
_CHECK_BATCH = 262_144  # key rows per batch while checking the stored order (6 MiB)
_NAMES = tuple(FIELDS)
_MAKER_LIMIT = 4096  # shapes cached at most; a stranger shape takes dict(zip())
#: Fields with few distinct values (a closed set, or symbols and accounts): decoded as shared str objects.
_FEW_VALUES = tuple(i for i, name in enumerate(_NAMES) if name in ("source", "type", "account", "leg", "role", "symbol", "side"))
_NUMPY_TYPES = (pa.int64(), pa.float64())

_makers: dict[tuple[str, ...], Callable[..., dict[str, Any]]] = {}


@dataclass(frozen=True)
class EventBatch:
    """Stored events in arrival order: as Arrow columns (``columns``) and as canonical dicts (``events``).

    ``columns`` has one column per canonical field (timestamps as int64 ns), then
    ``extra`` (JSON text) and ``ingest_id`` (the event's log): writers take
    per-event columns from it without touching the dicts. ``fields[i]`` names the canonical fields ``events[i]``
    has (not None), in canonical order; events of one shape share the tuple.
    """

    columns: pa.RecordBatch
    events: list[dict[str, Any]]
    fields: list[tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.events)


def _maker(keys: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """``make(v0, v1, ...) -> {keys[0]: v0, ...}``, generated once per shape; keys are canonical names only."""
    make = _makers.get(keys)
    if make is None:
        args = ", ".join(f"v{i}" for i in range(len(keys)))
        body = ", ".join(f"{key!r}: v{i}" for i, key in enumerate(keys))
        namespace: dict[str, Any] = {}
        exec(f"def make({args}):\n    return {{{body}}}", namespace)  # noqa: S102 - keys come from FIELDS
        make = namespace["make"]
        if len(_makers) < _MAKER_LIMIT:
            _makers[keys] = make
    return make


def _shapes(batch: pa.RecordBatch) -> np.ndarray:
    """Per row, a bit mask of the canonical fields that are not null (bit i: field i)."""
    codes = np.zeros(batch.num_rows, dtype=np.int64)
    for bit, column in enumerate(batch.columns[: len(_NAMES)]):
        if column.null_count == 0:
            codes |= 1 << bit
        elif column.null_count < batch.num_rows:
            codes |= column.is_valid().to_numpy(zero_copy_only=False).astype(np.int64) << bit
    return codes


def _python(column: pa.Array, shared: list[str] | None) -> list[Any]:
    """A column without nulls as Python values: numbers through numpy (faster than ``to_pylist``), shared strings by index."""
    if shared is not None:
        return list(map(shared.__getitem__, column.to_numpy().tolist()))
    if column.type in _NUMPY_TYPES:
        return column.to_numpy().tolist()
    return column.to_pylist()


def decode(batch: pa.RecordBatch) -> EventBatch:
    """A batch laid out as :func:`arrow_batches` selects it, with its canonical dicts and their shapes, in row order."""
    rows = batch.num_rows
    if rows == 0:
        return EventBatch(batch, [], [])
    codes = _shapes(batch)
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    cuts = (np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist()
    columns = batch.columns[: len(_NAMES)]
    shared: dict[int, list[str]] = {}
    for i in _FEW_VALUES:  # a few distinct strings: one str object each, shared by the events
        column = columns[i]
        if column.null_count < rows and (pa.types.is_string(column.type) or pa.types.is_dictionary(column.type)):
            encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)  # ENUM: already
            shared[i], columns[i] = encoded.dictionary.to_pylist(), encoded.indices
    events: list[dict[str, Any]] = []
    shapes: list[tuple[str, ...]] = []
    for start, stop in zip([0, *cuts], [*cuts, rows]):
        shape = int(ordered[start])
        present = [i for i in range(len(_NAMES)) if shape >> i & 1]
        keys = tuple(_NAMES[i] for i in present)
        rows_of_shape = pa.array(order[start:stop]) if cuts else None  # only this shape's columns are taken
        values = [_python(columns[i] if rows_of_shape is None else columns[i].take(rows_of_shape), shared.get(i))
                  for i in present]
        events.extend(map(_maker(keys), *values))
        shapes.extend(repeat(keys, stop - start))
    if cuts:  # back to row order: events[k] is row order[k]
        back = np.empty(rows, dtype=np.int64)
        back[order] = np.arange(rows)
        in_row_order = itemgetter(*back.tolist())
        events, shapes = list(in_row_order(events)), list(in_row_order(shapes))
    _merge_extra(batch.column(len(_NAMES)), events)
    return EventBatch(batch, events, shapes)


def _merge_extra(extra: pa.Array, events: list[dict[str, Any]]) -> None:
    """Unknown fields kept on ingest (JSON in ``extra``) go back into their events; canonical ones win."""
    if extra.null_count == len(extra):
        return
    for event, text in zip(events, extra.to_pylist()):
        if text is not None:
            for key, value in json.loads(text).items():
                event.setdefault(key, value)


def events_where(ingest_ids: Sequence[int] | None = None, since_ns: int | None = None, until_ns: int | None = None,
                 account: str | None = None) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) that picks the events of some logs, a recv_ts window and an account."""
    conditions: list[str] = []
    params: list[Any] = []
    if ingest_ids is not None:
        conditions.append(f"ingest_id IN ({', '.join('?' for _ in ingest_ids)})" if ingest_ids else "false")
        params += list(ingest_ids)
    if since_ns is not None:
        conditions.append("epoch_ns(recv_ts) >= ?")
        params.append(since_ns)
    if until_ns is not None:
        conditions.append("epoch_ns(recv_ts) <= ?")
        params.append(until_ns)
    if account is not None:
        conditions.append("coalesce(account, 'default') = ?")
        params.append(account)
    return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), params


def _increasing(before: Sequence[np.ndarray], after: Sequence[np.ndarray]) -> np.ndarray:
    """Row-wise: is key ``after`` (a tuple of columns) above key ``before``, lexicographically."""
    above = np.zeros(len(after[0]), dtype=bool)
    equal = np.ones(len(after[0]), dtype=bool)
    for b, a in zip(before, after):
        above |= equal & (a > b)
        equal &= a == b
    return above


def _scan_in_stored_order(con: duckdb.DuckDBPyConnection, where: str, params: Sequence[Any],
                          arrivals: bool) -> tuple[bool, bool]:
    """(in log order, arrivals rising): does a plain scan meet each key (ingest, seq, row) above the last; and
    (when ``arrivals``; else False) does each log's ``recv_ts`` never go down along it. Streams the key columns."""
    last: list[np.ndarray] | None = None
    rising = arrivals
    query = f"SELECT ingest_id, seq, row_number{', epoch_ns(recv_ts)' if arrivals else ''} FROM events {where}"
    for batch in con.sql(query, params=list(params)).to_arrow_reader(_CHECK_BATCH):
        if batch.num_rows == 0:
            continue
        if any(column.null_count for column in batch.columns):
            return False, False
        keys = [column.to_numpy() for column in batch.columns]
        if last is not None:
            keys = [np.concatenate([before, now]) for before, now in zip(last, keys)]
        ordered = keys[:3]
        if not _increasing([k[:-1] for k in ordered], [k[1:] for k in ordered]).all():
            return False, False
        if rising:
            log, received = keys[0], keys[3]
            rising = not ((log[1:] == log[:-1]) & (received[1:] < received[:-1])).any()
        last = [k[-1:] for k in keys]
    return True, rising


def stored_in_log_order(con: duckdb.DuckDBPyConnection, where: str = "", params: Sequence[Any] = ()) -> bool:
    """Whether a plain scan of the events (``where``) meets them in log order: each key (ingest, seq, row) above the last.

    DuckDB returns a scan without ORDER BY in insertion order, and ingest
    stores each log in order, so the reader can usually skip the sort. This check
    streams the three key columns in that same scan order (memory flat).
    """
    return _scan_in_stored_order(con, where, params, arrivals=False)[0]


#: How the reader orders events: as stored (already in log order), sorted by log, merged by the logs'
#: ``recv_ts`` (each log's never goes down), or merged by each log's running maximum of it.
STORED, BY_LOG, BY_RECV, BY_ARRIVAL = "stored", "log", "recv", "arrival"


def _query(where: str, order: str) -> str:
    columns = ", ".join(
        f"epoch_ns({ident(name)}) AS {ident(name)}" if kind == TS else ident(name) for name, kind in FIELDS.items()
    )
    select = f"SELECT {columns}, CAST(extra AS VARCHAR) AS extra, ingest_id FROM"
    if order == BY_ARRIVAL:
        # Each log keeps its own order; logs interleave by when their events arrived. A log's
        # running maximum of recv_ts never goes down, so a step back of its clock cannot move
        # an event before the log's earlier ones.
        arrival = ("max(recv_ts) OVER (PARTITION BY ingest_id ORDER BY seq, row_number "
                   "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)")
        return (f"{select} (SELECT *, {arrival} AS arrival FROM events {where}) "
                "ORDER BY arrival, ingest_id, seq, row_number")
    order_by = {STORED: "", BY_LOG: " ORDER BY ingest_id, seq, row_number",
                BY_RECV: " ORDER BY recv_ts, ingest_id, seq, row_number"}[order]
    return f"{select} events {where}{order_by}"


def replay_order(con: duckdb.DuckDBPyConnection, where: str = "", params: Sequence[Any] = ()) -> str:
    """How :func:`arrow_batches` orders the events (``where``): the cheapest of the orders that gives arrival order.

    Logs one after another in time: :data:`STORED` if a plain scan is in log order,
    else :data:`BY_LOG`. Logs that overlap: :data:`BY_RECV` when each log's
    ``recv_ts`` never goes down along it (the running maximum is ``recv_ts``
    itself, and a plain sort costs a quarter of the window), else :data:`BY_ARRIVAL`.
    """
    if not logs_interleave(con, where, params):
        return STORED if stored_in_log_order(con, where, params) else BY_LOG
    in_order, rising = _scan_in_stored_order(con, where, params, arrivals=True)
    return BY_RECV if in_order and rising else BY_ARRIVAL


def arrow_batches(
    con: duckdb.DuckDBPyConnection,
    ingest_ids: Sequence[int] | None = None,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    account: str | None = None,
    size: int = _BATCH,
) -> Iterator[pa.RecordBatch]:
    """Stored events in arrival order as Arrow batches of up to ``size`` rows, each row with its ``ingest_id``.

    Arrival order is each log's own order (``seq``), and log after log in the
    order they were ingested; logs that overlap in time (:func:`logs_interleave`)
    are merged by arrival (``recv_ts``) instead, each keeping its own order.
    ``since_ns``/``until_ns`` bound the arrival time (inclusive) and ``account``
    keeps one account's events (absent means ``default``). Logs stored in order
    (:func:`stored_in_log_order`, as ingest writes them) are streamed as stored;
    otherwise DuckDB sorts them.
    """
    con.execute("SET preserve_insertion_order = true").fetchall()  # DuckDB's default; the plain scan relies on it
    where, params = events_where(ingest_ids, since_ns, until_ns, account)
    yield from con.sql(_query(where, replay_order(con, where, params)), params=params).to_arrow_reader(size)


def read_event_batches(
    con: duckdb.DuckDBPyConnection, ingest_ids: Sequence[int] | None = None, *, size: int = _BATCH
) -> Iterator[EventBatch]:
    """:func:`arrow_batches` (unfiltered), each with its canonical dicts, in arrival order."""
    for batch in arrow_batches(con, ingest_ids, size=size):
        if batch.num_rows:
            yield decode(batch)


def read_events(
    con: duckdb.DuckDBPyConnection, ingest_ids: Sequence[int] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield stored events in arrival order (:func:`arrow_batches`), as canonical dicts."""
    for batch in read_event_batches(con, ingest_ids):
        yield from batch.events
