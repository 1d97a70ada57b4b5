"""Canonical JSON lines: one event object per line, exactly DESIGN section 4.

Parsed by DuckDB's JSON functions, one vectorized pass: every line becomes a row,
with its line number and text, so a line that is not JSON, not an object, or holds a
field of the wrong JSON type is rejected with that reason rather than dropped.
Fields we do not know are kept in ``extra``.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import orjson

from ..errors import IngestError
from ..events import BOOL, FIELDS, INT, KIND_WORDS, NUM, STR, TS
from ..jsonlines import loads, lone_surrogate_field, lone_surrogate_reason
from ..store.checks import ident, lit
from ..store import database
from ..store.database import Piece, one_row
from ..store.ingest import Staged
from ..store.progress import LoadProgress
from ..store.scratch import no_room, scratch_folder

FORMAT = "jsonl"

#: JSON value types DuckDB's json_type reports that are acceptable for each field kind.
_ACCEPTED_JSON_TYPES = {
    STR: ("VARCHAR",),
    NUM: ("BIGINT", "UBIGINT", "DOUBLE"),
    INT: ("BIGINT", "UBIGINT"),
    BOOL: ("BOOLEAN",),
    TS: ("VARCHAR", "BIGINT", "UBIGINT"),
}
_JSON_TYPE_WORDS = "CASE {t} WHEN 'VARCHAR' THEN 'str' WHEN 'BOOLEAN' THEN 'bool' WHEN 'DOUBLE' THEN 'float' " \
                   "WHEN 'BIGINT' THEN 'int' WHEN 'UBIGINT' THEN 'int' WHEN 'OBJECT' THEN 'object' " \
                   "WHEN 'ARRAY' THEN 'array' ELSE lower({t}) END"


#: The UTF-8 byte order mark some Windows tools put at the start of a text file.
BOM = b"\xef\xbb\xbf"
_BOM_SQL = "chr(65279)"

_NOT_JSON = object()


def first_json_line(head: str) -> object:
    """The first non-blank line of ``head`` parsed as JSON (a sentinel when it is not JSON or there is none)."""
    for line in head.splitlines():
        if line.strip():
            try:
                return json.loads(line)
            except ValueError:
                return _NOT_JSON
    return _NOT_JSON


def looks_like(head: str) -> bool:
    """A first non-blank line that is a JSON object with a ``source`` or ``type`` key."""
    first = first_json_line(head)
    return isinstance(first, dict) and ("source" in first or "type" in first)


#: The share of staging that splitting the file into lines takes; parsing them takes the rest
#: (0.5 s of 3.4 s for 1M lines read whole, 4.7 s of 19.3 s for 5M in pieces).
SPLIT_SHARE = 0.2

#: DuckDB's read_text holds a piece (and its lines) in memory several times over: a file is read in pieces
#: of about PIECE_BYTES cut at line ends, each staged, checked and stored before the next is read, so that
#: memory is bounded by a piece whatever the bytes (issue 15 item 7: 1 GB of garbage grew to 14.2 GB).
#: The first piece is at most :data:`safeguards.store.database.GIVE_UP_BYTES`, so that a file of garbage is
#: given up on after it. A line longer than a piece is never held whole: see :data:`LONG_LINE_HEAD`.
PIECE_BYTES = 32 << 20
#: ...and of at most about this many lines: DuckDB spends some hundreds of bytes on each line whatever its
#: length, so that a piece of short lines (garbage: ``[1]``) would otherwise hold ten times its size.
PIECE_LINES = 250_000

#: Of a line longer than a piece, this many bytes are kept as the rejected row's raw text.
LONG_LINE_HEAD = 200

_READ = 1 << 20


@dataclass(frozen=True)
class _LongLine:
    """A line longer than a piece: rejected unread, with its length and first bytes."""

    length: int
    head: bytes


def create_lines(con: duckdb.DuckDBPyConnection, path: Path, name: str, progress: LoadProgress | None = None) -> str:
    """Create table ``name``_lines (row_number, line, encoding_error) over every line; return its name.

    For adapters that stage a whole file at once (Alpaca, Binance, OKX); JSON lines stage piece by
    piece (:func:`stage`). See :func:`_line_pieces` for what the lines are.
    """
    lines = f"{name}_lines"
    for _ in _line_pieces(con, path, lines, progress, append=True):
        pass
    return lines


def _line_pieces(
    con: duckdb.DuckDBPyConnection, path: Path, lines: str, progress: LoadProgress | None = None,
    append: bool = False,
) -> Iterator[tuple[int, bool]]:
    """Fill table ``lines`` (row_number, line, encoding_error) with the lines of each piece in turn (with
    ``append``, adding to those before); yield after each the bytes of the file read through it, and whether
    more follows.

    A byte order mark at the start (Windows tools write one) is not part of the first line.
    DuckDB splits the lines of each piece. A piece that is not valid UTF-8 throughout,
    which DuckDB refuses, is split by Python instead, and each line that does not decode
    carries the reason: one bad byte costs one rejected line, not the whole file. So does a
    line that escapes a lone surrogate (:func:`_mark_lone_surrogates`): it is not text either.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE {lines} (row_number BIGINT, line VARCHAR, encoding_error VARCHAR)")
    size = path.stat().st_size or 1
    done = 0
    for number, (piece, first, through, more) in enumerate(_pieces(path)):
        if number and not append:
            con.execute(f"DELETE FROM {lines}")
        if progress is not None:
            progress.piece(done / size, through / size)
            done = through
        if isinstance(piece, _LongLine):
            head = piece.head.decode("utf-8", errors="replace")
            con.execute(f"INSERT INTO {lines} VALUES (?, ?, ?)", [
                first, head + "…", f"a line of {piece.length:,} bytes, longer than any event: not read "
                f"(its first {len(piece.head)} bytes are kept)"])
        elif isinstance(piece, Path):
            con.execute(f"INSERT INTO {lines} {_split_by_duckdb(piece, first)}")
        else:
            _insert_split_by_python(con, lines, piece, first)
        if not isinstance(piece, _LongLine):
            _mark_lone_surrogates(con, lines, first)
        yield through, more


def _pieces(path: Path) -> Iterator[tuple[Path | bytes | _LongLine, int, int, bool]]:
    """The file in pieces, each with the number of its first line, the bytes of the file read through it and
    whether more of it follows:
    a UTF-8 piece as a file DuckDB can read (the file itself when it is small), any other as its bytes, a line
    longer than a piece as a :class:`_LongLine`. Each piece but the last ends just before a newline, so that
    its lines, and their numbers, are the file's. Never more than a piece is held."""
    size = path.stat().st_size
    piece_bytes = min(PIECE_BYTES, database.GIVE_UP_BYTES)  # the first: see GIVE_UP_BYTES
    if size <= piece_bytes:
        yield (path, 1, size, False) if _is_utf8(path) else (path.read_bytes(), 1, size, False)
        return
    with scratch_folder(path, "lines") as folder, open(path, "rb") as handle:
        written = folder / "piece.txt"
        first, start = 1, 0
        while start <= size:
            handle.seek(start)
            block = handle.read(piece_bytes)
            piece_bytes = PIECE_BYTES
            last = start + len(block) >= size
            cut = len(block) if last else block.rfind(b"\n")
            if cut < 0:  # a line longer than a piece: never held whole
                length, ends = _skip_line(handle, start, len(block))
                reach = min(start + length + 1, size)
                yield _LongLine(length, block[:LONG_LINE_HEAD]), first, reach, reach < size
                first, start = first + 1, start + length + 1
                if not ends:
                    return
                continue
            newlines = block.count(b"\n", 0, cut)
            if newlines > PIECE_LINES and (fewer := block.rfind(b"\n", 0, cut * PIECE_LINES // newlines)) > 0:
                cut, newlines = fewer, block.count(b"\n", 0, fewer)
            piece = memoryview(block)[:cut]  # no copy: a piece is large
            through = min(start + cut + 1, size)
            more = through < size
            item: Path | bytes
            try:
                str(piece, "utf-8")
            except UnicodeDecodeError:
                item = bytes(piece)
            else:
                try:
                    written.write_bytes(piece)
                except OSError as error:
                    raise no_room(path, folder, error) from None
                item = written
            del piece, block  # not held while the piece is worked on
            yield item, first, through, more
            first += newlines + 1
            start += cut + 1


def _skip_line(handle: BinaryIO, start: int, seen: int) -> tuple[int, bool]:
    """(length, whether a newline ends it) of the line at ``start``, whose first ``seen`` bytes held no newline."""
    handle.seek(start + seen)
    length = seen
    while chunk := handle.read(_READ):
        newline = chunk.find(b"\n")
        if newline >= 0:
            return length + newline, True
        length += len(chunk)
    return length, False


def _is_utf8(path: Path) -> bool:
    """Whether the whole file decodes as UTF-8 (read in chunks: constant memory)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _split_by_duckdb(path: Path, first: int) -> str:
    """SQL for the lines of a UTF-8 file whose first line is line ``first`` of the log."""
    return (
        f"SELECT row_number, CASE WHEN row_number = 1 THEN ltrim(line, {_BOM_SQL}) ELSE line END, NULL FROM ("
        # The CR of a CRLF goes by slicing where there is one: rtrim() copied every line (1.2 s per 1M).
        f"SELECT row_number, CASE WHEN suffix(line, chr(13)) THEN line[:-2] ELSE line END AS line FROM ("
        f"SELECT unnest(range({first}, {first} + len(parts))) AS row_number, unnest(parts) AS line "
        f"FROM (SELECT string_split(content, chr(10)) AS parts FROM read_text({lit(str(path))}))))"
    )


def _insert_split_by_python(con: duckdb.DuckDBPyConnection, lines: str, data: bytes, first: int) -> None:
    """Insert the lines of ``data`` (line ``first`` onwards) into ``lines``, each that is not UTF-8 with why."""
    rows: list[tuple[int, str, str | None]] = []
    for number, raw in enumerate((data.removeprefix(BOM) if first == 1 else data).split(b"\n"), start=first):
        try:
            rows.append((number, raw.decode("utf-8").removesuffix("\r"), None))
        except UnicodeDecodeError as bad:
            reason = f"not valid UTF-8 (byte {raw[bad.start]:#04x} at column {bad.start + 1})"
            rows.append((number, raw.decode("utf-8", errors="replace").removesuffix("\r"), reason))
    import polars as pl  # only here: a UTF-8 file (the usual case) never needs it

    frame = pl.DataFrame(rows, schema={"row_number": pl.Int64, "line": pl.Utf8, "encoding_error": pl.Utf8},
                         orient="row")
    con.register(f"{lines}_frame", frame)
    try:
        con.execute(f"INSERT INTO {lines} SELECT * FROM {lines}_frame")
    finally:
        con.unregister(f"{lines}_frame")


#: Lines that may escape a lone surrogate: one DuckDB finds no valid JSON in, with a surrogate's escape (\uD800-\uDFFF)
#: in it. Looked for as text first: a valid line (a paired escape included) is never parsed again.
_MAY_HOLD_LONE_SURROGATE = ("encoding_error IS NULL AND (contains(line, '\\ud') OR contains(line, '\\uD')) "
                            "AND NOT json_valid(line)")


def _mark_lone_surrogates(con: duckdb.DuckDBPyConnection, lines: str, first: int) -> None:
    """Give each line (line ``first`` onwards) that is a JSON object but for a lone surrogate the sidecar's reason.

    DuckDB reads ``"\\ud800"`` as no JSON at all, which would file it as "not valid JSON";
    json reads it, and :func:`safeguards.jsonlines.lone_surrogate_field` names the field.
    The reason goes in ``encoding_error`` (the line is not text), which every adapter over these lines
    rejects first.
    """
    found = []
    for number, line in con.execute(f"SELECT row_number, line FROM {lines} WHERE row_number >= ? AND "
                                    f"{_MAY_HOLD_LONE_SURROGATE}", [first]).fetchall():
        raw = line.encode("utf-8")
        try:
            event = loads(raw)
        except ValueError:
            continue
        field = lone_surrogate_field(raw, event) if type(event) is dict else None
        if field is not None:
            found.append((lone_surrogate_reason(field), number))
    if found:
        con.executemany(f"UPDATE {lines} SET encoding_error = ? WHERE row_number = ?", found)


#: A line with more than spaces on it; trim() only where the line is not plainly an object (it copies).
NOT_BLANK = "line <> '' AND (starts_with(line, '{') OR trim(line) <> '')"

#: A sealed control record of the engine's journal (header, markers): skipped and counted, so a
#: journal segment ingests as the broker event log it is.
#: Looked for as text first: parsing every line to find the few records costs 0.2 s per 1M.
_JOURNAL_CONTROL = ("CASE WHEN contains(line, 'journal_crc') AND json_valid(line) "
                    "THEN coalesce(json_extract_string(line, '$.source') = 'control' "
                    "AND json_extract_string(line, '$.journal_crc') IS NOT NULL, false) ELSE false END")


#: A file larger than this whose first PROBE_BYTES hold no line that is a JSON object is refused before
#: it is staged: it is no event log, and staging 1 GB of such bytes grew to 14 GB (issue 15 item 7).
PROBE_BYTES = 8 << 20


def refuse_if_no_object_ahead(path: Path) -> None:
    """IngestError (nothing staged, the store unchanged) if a large file's first piece holds no JSON object line.

    A smaller file is staged: each of its lines is rejected with its reason.
    """
    if path.stat().st_size <= PROBE_BYTES:
        return
    with open(path, "rb") as handle:
        lines = handle.read(PROBE_BYTES).removeprefix(BOM).split(b"\n")[:-1]  # the probe may cut the last one
    seen = 0
    for raw in lines:
        if not raw.strip():
            continue
        seen += 1
        if raw.lstrip()[:1] == b"{" and isinstance(_json_or_none(raw), dict):
            return
    found = (f"none of its first {seen:,} lines ({PROBE_BYTES:,} bytes) is a JSON object" if seen
             else f"no line ends within its first {PROBE_BYTES:,} bytes")
    raise IngestError(f"{path}: {found}: not a JSON lines event log; nothing was stored. Check that this is the "
                      "file meant, or give --format if it is a log of another format")


def _json_or_none(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def stage(con: duckdb.DuckDBPyConnection, path: Path, name: str, progress: LoadProgress | None = None) -> Staged:
    """Stage the file's first piece of lines as the temporary table ``name`` (parsed once, read twice); the
    returned :class:`Staged` stages each further piece in turn, and says what each skipped."""
    refuse_if_no_object_ahead(path)
    pieces = _staged_pieces(con, path, name, progress)
    first = next(pieces)
    return Staged(first.skipped, "journal control records", first_piece=first, rest=pieces)


def _staged_pieces(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, progress: LoadProgress | None
) -> Iterator[Piece]:
    lines = f"{name}_lines"
    sql = _parse_sql(name, lines)
    for through, more in _line_pieces(con, path, lines, progress):
        con.execute(sql)
        # Counted after the parse: a progress bar would read this quick statement's 100% as the parse's.
        skipped: int = one_row(con, f"SELECT count(*) FROM {lines} WHERE {_JOURNAL_CONTROL}")[0]
        tail = None if more else _unterminated_line(con, path, lines)
        yield Piece(through, more, skipped, tail)


def _unterminated_line(con: duckdb.DuckDBPyConnection, path: Path, lines: str) -> int | None:
    """The number of the file's last line if no newline ends it (it may still be being written)."""
    size = path.stat().st_size
    if not size:
        return None
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return None
    number: int | None = one_row(con, f"SELECT max(row_number) FROM {lines}")[0]
    return number


def _parse_sql(name: str, lines: str) -> str:
    """The statement that parses table ``lines`` into the staged table ``name``."""
    names = list(FIELDS)
    paths = "[" + ", ".join(lit(f"$.{n}") for n in names) + "]"
    columns = []
    type_checks = []
    for index, (field, kind) in enumerate(FIELDS.items(), start=1):
        json_type = f"types[{index}]"
        text = f"texts[{index}]"
        if field in ("source", "type"):
            columns.append(f"CASE WHEN {json_type} <> 'NULL' THEN {text} END AS {ident(field)}")
            continue
        accepted = ", ".join(lit(t) for t in _ACCEPTED_JSON_TYPES[kind])
        columns.append(f"CASE WHEN {json_type} IN ({accepted}) THEN {text} END AS {ident(field)}")
        if kind == TS:  # integer nanoseconds are a JSON number, never a string of digits
            type_checks.append(
                f"WHEN {json_type} = 'VARCHAR' AND regexp_full_match({text}, '\\s*-?[0-9]+\\s*') THEN "
                f"{lit(f'field {field!r}: not an RFC 3339 UTC timestamp (e.g. 2026-02-21T14:30:00.123456Z): ')} "
                f"|| chr(39) || {text} || chr(39)"
            )
        words = _JSON_TYPE_WORDS.format(t=json_type)
        type_checks.append(
            f"WHEN {json_type} NOT IN ({accepted}, 'NULL') THEN "
            f"{lit(f'field {field!r}: expected {KIND_WORDS[kind]}, got ')} || {words}"
        )
    removal = lit(json.dumps({n: None for n in names}))
    return f"""CREATE OR REPLACE TEMP TABLE {name} AS
SELECT row_number, 'line ' || row_number AS location, line AS raw,
       CASE WHEN encoding_error IS NOT NULL THEN encoding_error
            WHEN j IS NULL THEN 'not valid JSON'
            WHEN json_type(j) <> 'OBJECT' THEN 'a line must be a JSON object, got ' || lower(json_type(j)) END
         AS pre_reason,
       CASE {' '.join(type_checks)} END AS type_error,
       {', '.join(columns)},
       CASE WHEN rest <> '{{}}' THEN rest END AS extra
FROM (
    SELECT *, json_type(j, {paths}) AS types, json_extract_string(j, {paths}) AS texts,
           CASE WHEN json_type(j) = 'OBJECT' THEN json_merge_patch(j, {removal}) END AS rest
    FROM (
        SELECT row_number, line, encoding_error, CASE WHEN json_valid(line) THEN line::JSON END AS j
        FROM {lines} WHERE {NOT_BLANK} AND NOT {_JOURNAL_CONTROL}
    )
)"""
