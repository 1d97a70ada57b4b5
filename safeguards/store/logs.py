"""Which stored log a file is: the same bytes, the same log grown since, a part of one, or none.

A log ingested while it is still being written (issue 15 item 8) comes back later
longer; an older copy of a log may come after the whole. Both must be told from a
new log, or a backtest replays the shared part twice. A log is known by the sha256 of
its bytes (``ingests.sha256``) and by *checkpoints* (``log_checkpoints``): the sha256
of its first ``bytes`` bytes, every :data:`CHECKPOINT_BYTES` and at the end of what
was loaded. One pass over a new file (:func:`survey`) takes its digest at every
stored checkpoint's offset, so that:

- a file whose first bytes are all of a stored log's bytes is that log grown: only the
  rows after the log's last row are loaded, as more of the same log (same ingest id);
- a file that is all of a stored log's first bytes is already stored (when it ends
  between two checkpoints, the rest is compared with the stored log's file, if it is
  still where it was loaded from and still holds those bytes; else it is refused);
- a file that shares a stored log's first bytes and then differs is refused: it is
  neither; ``--replace`` loads it in that log's place.

The relation is one of bytes, so it holds for every format; loading only the new rows
relies on a row's number being its place in the file (line, data row, message), which
every adapter keeps. A log loaded while its last line had no newline yet and whose
last line then changed is refused too: its last row may have been cut.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

#: A checkpoint every this many bytes of a log (4 GB: 4,000 rows of ``log_checkpoints``).
CHECKPOINT_BYTES = 1 << 20

#: Files that share fewer first bytes than this with a log of another path are not taken for it: two small
#: logs may begin alike (a CSV header) without being one log.
LEAST_SHARED_BYTES = 4096

#: Bytes that end a line or a FIX message: a log that ends with one was not cut mid-record.
RECORD_ENDS = b"\n\x01"

_READ = 1 << 20


@dataclass
class Survey:
    """What one pass over a file's bytes tells."""

    size: int
    digest: str
    #: sha256 of its first n bytes, every CHECKPOINT_BYTES and at its end: (n, digest, a record ends at n).
    checkpoints: list[tuple[int, str, bool]] = field(default_factory=list)
    #: sha256 of its first n bytes for each offset asked for, and the byte at that offset (b"" at the end).
    at: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    #: After its last newline: (offset, sha256 of the bytes before it); None when it has no newline.
    last_newline: tuple[int, str] | None = None

    @property
    def clean_end(self) -> bool:
        """Whether it ends with the end of a line or a FIX message (or is empty)."""
        return not self.checkpoints or self.checkpoints[-1][2]


def survey(path: Path, offsets: Iterable[int] = ()) -> Survey:
    """Read ``path`` once: its size and sha256, its own checkpoints, and its digest at each of ``offsets``."""
    wanted = sorted({n for n in offsets if n >= 0})
    hasher = hashlib.sha256()
    checkpoints: list[tuple[int, str, bool]] = []
    at: dict[int, tuple[str, bytes]] = {}
    last_newline: tuple[int, str] | None = None
    position, previous = 0, b""
    next_wanted = 0
    with open(path, "rb") as handle:
        while True:
            stop = (position // CHECKPOINT_BYTES + 1) * CHECKPOINT_BYTES
            while next_wanted < len(wanted) and wanted[next_wanted] < position:
                next_wanted += 1
            if next_wanted < len(wanted):
                stop = min(stop, max(wanted[next_wanted], position + 1))
            chunk = handle.read(min(stop - position, _READ))
            while next_wanted < len(wanted) and wanted[next_wanted] == position:
                at[position] = (hasher.hexdigest(), chunk[:1])
                next_wanted += 1
            if not chunk:
                break
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                hasher.update(chunk[: newline + 1])
                last_newline = (position + newline + 1, hasher.hexdigest())
                hasher.update(chunk[newline + 1:])
            else:
                hasher.update(chunk)
            position += len(chunk)
            previous = chunk[-1:]
            if position % CHECKPOINT_BYTES == 0:
                checkpoints.append((position, hasher.hexdigest(), previous in RECORD_ENDS))
    digest = hasher.hexdigest()
    if position and (not checkpoints or checkpoints[-1][0] != position):
        checkpoints.append((position, digest, previous in RECORD_ENDS))
    return Survey(position, digest, checkpoints, at, last_newline)


def stored_offsets(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Every offset at which some stored log has a checkpoint: where :func:`survey` must take a new file's digest."""
    return [n for (n,) in con.execute("SELECT DISTINCT bytes FROM log_checkpoints ORDER BY 1").fetchall()]


@dataclass(frozen=True)
class StoredLog:
    """A stored log as the store knows it."""

    ingest_id: int
    path: str
    format: str
    options: str
    #: Bytes of it loaded, and whether they end with the end of a record.
    end: int
    clean_end: bool
    #: Its checkpoints: (bytes, sha256).
    checkpoints: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Relation:
    """How a new file stands to a stored log: ``grown`` (it is the log, longer), ``part`` (all of it is the
    log's first bytes), ``cut`` (the log was loaded mid-record, and that record has changed since),
    ``differs`` (they share ``shared`` first bytes, then differ) or ``unknown`` (it ends between two
    checkpoints, and the log's file is no longer there to compare the rest with)."""

    kind: str
    log: StoredLog
    shared: int


def stored_logs(con: duckdb.DuckDBPyConnection) -> list[StoredLog]:
    """Every log that has checkpoints (those loaded before they were kept have none), oldest first."""
    rows = con.execute(
        "SELECT i.ingest_id, i.path, i.format, coalesce(CAST(i.options AS VARCHAR), '{}'), "
        "list((c.bytes, c.sha256, c.record_end) ORDER BY c.bytes) "
        "FROM ingests AS i JOIN log_checkpoints AS c USING (ingest_id) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    logs = []
    for ingest_id, path, format, options, points in rows:
        points = [tuple(p.values()) if isinstance(p, dict) else tuple(p) for p in points]
        end, _, clean = points[-1]
        logs.append(StoredLog(ingest_id, path, format, options, end, bool(clean),
                              tuple((n, sha) for n, sha, _ in points)))
    return logs


def relation(con: duckdb.DuckDBPyConnection, path: Path, new: Survey) -> Relation | None:
    """The stored log ``path`` (surveyed as ``new``) is related to, the closest first; None if none."""
    best: Relation | None = None
    for log in stored_logs(con):
        found = _relation(path, new, log)
        if found is not None and (best is None or found.shared > best.shared):
            best = found
    return best


def _relation(path: Path, new: Survey, log: StoredLog) -> Relation | None:
    shared = 0
    for offset, digest in log.checkpoints:
        if offset > new.size or new.at.get(offset, ("",))[0] != digest:
            break
        shared = offset
    if not shared or (shared < LEAST_SHARED_BYTES and not same_file(path, log.path)):
        return None
    if shared == log.end:
        if new.size == log.end:
            return Relation("part", log, shared)
        following = new.at[log.end][1]
        if log.clean_end or following in (b"\n", b"\r"):
            return Relation("grown", log, shared)
        return Relation("cut", log, shared)
    after = next(offset for offset, _ in log.checkpoints if offset > shared)
    if new.size >= after:
        return Relation("differs", log, shared)
    if new.size == shared:
        return Relation("part", log, shared)
    return Relation(_compare_rest(path, new.size, shared, after, log), log, shared)


def _compare_rest(path: Path, size: int, shared: int, after: int, log: StoredLog) -> str:
    """``part`` if the stored log's file still holds its bytes through checkpoint ``after`` and they begin
    with all ``size`` bytes of ``path``; ``differs`` if it holds them and they do not; else ``unknown``."""
    original = Path(log.path)
    try:
        if not original.is_file() or original.stat().st_size < after:
            return "unknown"
        theirs = survey(original, [after]).at.get(after)
        if theirs is None or theirs[0] != dict(log.checkpoints)[after]:
            return "unknown"
        with open(original, "rb") as a, open(path, "rb") as b:
            a.seek(shared)
            b.seek(shared)
            left = size - shared
            while left > 0:
                mine, stored = b.read(min(_READ, left)), a.read(min(_READ, left))
                if mine != stored:
                    return "differs"
                left -= len(mine)
    except OSError:
        return "unknown"
    return "part"


def same_file(path: Path, stored: str) -> bool:
    """Whether ``stored`` (a path recorded in the store) names ``path``."""
    try:
        return path.resolve() == Path(stored).resolve()
    except OSError:
        return False


def record_checkpoints(
    con: duckdb.DuckDBPyConnection, ingest_id: int, new: Survey, end: int, after: int = 0
) -> None:
    """Keep the checkpoints of log ``ingest_id`` beyond ``after`` bytes, through ``end`` (what was loaded:
    all of it, or through its last newline when a last line still being written was not)."""
    points = [(n, sha, clean) for n, sha, clean in new.checkpoints if after < n < end]
    if end == new.size:
        points.append((end, new.digest, new.clean_end))
    elif new.last_newline is not None and new.last_newline[0] == end:
        points.append((end, new.last_newline[1], True))
    if points:
        con.executemany("INSERT INTO log_checkpoints VALUES (?, ?, ?, ?)",
                        [[ingest_id, n, sha, clean] for n, sha, clean in points])
