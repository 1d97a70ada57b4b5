"""Writers: canonical JSON lines (fields in DESIGN order, absent fields left out) or Parquet.

JSON lines write timestamps as RFC 3339 UTC strings with nanoseconds; the
``YYYY-MM-DDTHH:MM:SS`` part is cached per second, since consecutive events
share it. Parquet has one typed column per canonical field (timestamps as
``timestamp[ns, UTC]``), built chunk by chunk and streamed out as row groups
(pyarrow's ParquetWriter).

A *format* renders chunks of events (where the events are, in a worker); a
*sink* writes the rendered chunks in log order (where the log is assembled).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from ..errors import SimulatorError
from ..events import BOOL, FIELDS, INT, NUM, STR, TS
from .labels import COLUMNS, Label


class SecondText(dict):
    """Seconds since the epoch -> ``2026-02-21T14:30:00``; filled on first use, so a lookup is one C call."""

    def __missing__(self, seconds: int) -> str:
        if len(self) > 4096:
            self.clear()
        text = self[seconds] = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return text


class PriceText(dict):
    """Price -> its ``repr``: a few hundred distinct prices make most of a log's floats, and a float's
    shortest repr costs tens of times a dict lookup. Prices only: ``1 == 1.0`` would share an entry."""

    def __missing__(self, price: float) -> str:
        if type(price) is not float:
            raise TypeError(f"a price must be a float, got {price!r}")
        if len(self) > 65536:
            self.clear()
        text = self[price] = repr(price)
        return text


def _formatter(keys: tuple[str, ...]):
    """A function writing one JSON line for events with exactly these keys, in this order.

    Generated once per event shape (a dozen in a run). It relies on what the
    simulator puts in events: strings free of quotes, backslashes and control
    characters (ids, symbols, enum words), finite numbers, prices (``*_px``) as
    floats, ``poss_dup`` only when true, timestamps as integer nanoseconds (written
    as RFC 3339 text).
    """
    lines = ["def format_line(e, stamp, price):"]
    parts = []
    for number, key in enumerate(keys):
        kind = FIELDS[key]
        if kind == "bool":
            parts.append(f'"{key}":true')
            continue
        lines.append(f"    v{number} = e[{key!r}]")
        if kind == TS:  # RFC 3339 with nanoseconds: the cached second, then the fraction
            parts.append(f'"{key}":"{{stamp[v{number} // 1_000_000_000]}}.{{v{number} % 1_000_000_000:09d}}Z"')
        elif kind == STR:
            parts.append(f'"{key}":"{{v{number}}}"')
        elif key.endswith("_px"):
            parts.append(f'"{key}":{{price[v{number}]}}')
        else:
            parts.append(f'"{key}":{{v{number}!r}}')
    lines.append("    return f'{{" + ",".join(parts) + "}}\\n'")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - built from the canonical field table only
    return namespace["format_line"]


class JsonLines:
    """One canonical event per line, fields in DESIGN order, absent fields left out."""

    suffix = ".jsonl"

    def __init__(self) -> None:
        self.stamp = SecondText()
        self.price = PriceText()
        self.formatters: dict[tuple[str, ...], Any] = {}

    def render(self, events: list[dict]) -> bytes:
        stamp, price, formatters = self.stamp, self.price, self.formatters
        lines: list[str] = []
        append = lines.append
        for event in events:
            keys = tuple(event)
            format_line = formatters.get(keys)
            if format_line is None:
                format_line = formatters[keys] = _formatter(keys)
            append(format_line(event, stamp, price))
        return "".join(lines).encode("ascii")


_ARROW_TYPES = {STR: pa.large_string(), INT: pa.int64(), NUM: pa.float64(), TS: pa.timestamp("ns", tz="UTC"),
                BOOL: pa.bool_()}
EVENT_SCHEMA = pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in FIELDS.items()])
_POLARS_TYPES: dict[str, pl.DataType] = {
    STR: pl.String(), INT: pl.Int64(), NUM: pl.Float64(), TS: pl.Datetime("ns", "UTC"), BOOL: pl.Boolean(),
}
_POLARS_SCHEMA = pl.Schema({name: _POLARS_TYPES[kind] for name, kind in FIELDS.items()})


class Parquet:
    """One typed column per canonical field, timestamps as ``timestamp[ns, UTC]``, absent fields null.

    Columns are built by polars, which walks the events once, row by row; pyarrow's
    ``Table.from_pylist`` walks them once per column (27 passes over dicts spread across
    memory) and cost 2-3x as much in a real run (bench/bench_simulator.py). Both
    give the same table, so the same bytes. Unlike pyarrow, polars turns a float
    into an int column's integer without a word; the simulator puts only ints there,
    and tests/simulator/test_writer.py checks every value against the JSON lines log.
    """

    suffix = ".parquet"

    def render(self, events: list[dict]) -> pa.Table:
        frame = pl.from_dicts(events, schema=_POLARS_SCHEMA, strict=True)
        table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
        return table if table.schema == EVENT_SCHEMA else table.cast(EVENT_SCHEMA)


class Format(Protocol):
    """Turns a chunk of numbered events into what a :class:`Sink` writes; runs in the workers."""

    def render(self, events: list[dict]) -> Any: ...


def format_named(name: str) -> Format:
    return Parquet() if name == "parquet" else JsonLines()


#: What an output name's ending asks for; any other ending is refused rather than silently written as JSON lines.
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".log": "fix"}


def format_of(path: Path) -> str:
    """The format a path asks for: Parquet for ``.parquet``, a FIX message log for ``.log`` (see :mod:`.fixlog`),
    JSON lines for ``.jsonl``; anything else is a SimulatorError saying which endings there are."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise SimulatorError(f"{path}: the simulator writes {', '.join(FORMATS)} files (JSON lines, Parquet, or a "
                             f"FIX message log), not {path.suffix or 'a name without an ending'}; "
                             "name the output accordingly") from None


class JsonLinesSink:
    def __init__(self, path: Path) -> None:
        self.file = open(path, "wb")

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)

    def close(self) -> None:
        self.file.close()


#: Rows per Parquet row group (polars' default).
ROW_GROUP_ROWS = 512 * 512


class ParquetSink:
    """Streams row groups to the file as chunks come, so memory does not grow with the log.

    Chunks are gathered up to :data:`ROW_GROUP_ROWS` rows first: a window is smaller
    than a good row group (compression, and readers' per-group overhead).
    """

    def __init__(self, path: Path) -> None:
        self.writer = pq.ParquetWriter(path, EVENT_SCHEMA, compression="zstd")
        self.pending: list[pa.Table] = []
        self.rows = 0

    def write(self, chunk: pa.Table) -> None:
        self.pending.append(chunk)
        self.rows += chunk.num_rows
        if self.rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=ROW_GROUP_ROWS)
        self.pending, self.rows = [], 0

    def close(self) -> None:
        self._flush()
        self.writer.close()


class Sink(Protocol):
    """Where rendered chunks go, in log order."""

    def write(self, chunk: Any) -> None: ...
    def close(self) -> None: ...


def open_sink(path: Path) -> Sink:
    return ParquetSink(path) if format_of(path) == "parquet" else JsonLinesSink(path)


def labels_path(path: Path) -> Path:
    """Where the labels of ``path`` go: ``OUT.labels.jsonl`` or ``OUT.labels.parquet`` beside it."""
    if path.suffix in (".parquet", ".jsonl", ".json", ".ndjson"):
        stem, suffix = path.with_suffix(""), ".parquet" if path.suffix == ".parquet" else ".jsonl"
        return stem.with_name(stem.name + ".labels" + suffix)
    return path.with_name(path.name + ".labels.jsonl")


def write_labels(path: Path, labels: list[Label]) -> list[dict[str, Any]]:
    rows = sorted((label.row() for label in labels), key=lambda r: (r["seq"] is None, r["seq"] or 0, r["fault"]))
    if path.suffix == ".parquet":
        schema = {name: (pl.Int64 if name == "seq" else pl.Utf8) for name in COLUMNS}
        pl.DataFrame(rows, schema=schema).write_parquet(path)
    else:
        with open(path, "w", encoding="ascii", newline="\n") as out:
            for row in rows:
                out.write(json.dumps(row, separators=(",", ":")) + "\n")
    return rows
