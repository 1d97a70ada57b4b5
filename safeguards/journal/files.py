"""The journal folder on disk: its lock, its segments, and reading them back safely.

    PATH/LOCK                      held (flock) by the one live process using the journal
    PATH/segment-000001.jsonl      header record, then sealed records, appended and fsynced
    PATH/checkpoint-000002.json    the engine's state (format safeguards-core/1) at the start of segment 2,
                                   written atomically; loads in any process
    PATH/committed.mark            how far the journal had committed (see :mod:`.committed`)

Appends are group commits: one write and one fdatasync for all records the
caller has, before any of their decisions is answered. After a crash the last
line may be torn (written but never acknowledged); it is dropped and reported.
Any other damage refuses recovery: nothing is half-applied, nothing starts
fresh silently. Every write and sync goes through :mod:`.disk`: a disk that
takes no more (full, failing, read-only) is a located error before anything
that depends on it is answered.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import JournalError, JournalLocked, JournalNotDurable
from . import disk
from .records import CONTROL, BadRecord, decode, encode

JOURNAL_FORMAT = 1
_SEGMENT = re.compile(r"^segment-(\d{6})\.jsonl$")
_CHECKPOINT = re.compile(r"^checkpoint-(\d{6})\.json$")
_SEAL = re.compile(rb'\{"sha256": "([0-9a-f]{64})","content":')  #: how write_checkpoint starts a file
HISTORY = "history"  # finished segments: a day's broker log for ingest and backtest


def segment_name(number: int) -> str:
    return f"segment-{number:06d}.jsonl"


def segment_numbers(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _SEGMENT.match(p.name)))


def checkpoint_name(number: int) -> str:
    return f"checkpoint-{number:06d}.json"


def checkpoint_numbers(folder: Path) -> list[int]:
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)))


def write_checkpoint(path: Path, content: dict[str, Any], texts: Mapping[str, str] | None = None) -> None:
    """Atomically: a temporary file, synced, renamed over the name, the folder synced. Sealed by a sha256.

    `texts` are members already written as canonical JSON (the core's ``Engine.state_text()``): a large
    state is spliced in as the core wrote it instead of being built and encoded in Python.
    """
    body = canonical_json(content, texts or {})
    sealed = json.dumps({"sha256": hashlib.sha256(body.encode()).hexdigest()})[:-1] + ',"content":' + body + "}"
    _write_atomically(path, sealed.encode(), "write a checkpoint")


def canonical_json(content: dict[str, Any], texts: Mapping[str, str]) -> str:
    """``json.dumps`` of `content` with `texts` as members, keys sorted, compact; `texts` taken as written."""
    members = []
    for key in sorted({*content, *texts}):
        text = texts[key] if key in texts else json.dumps(content[key], separators=(",", ":"), sort_keys=True,
                                                           allow_nan=False)
        members.append(f"{json.dumps(key)}:{text}")
    return "{" + ",".join(members) + "}"


def _write_atomically(path: Path, data: bytes, doing: str) -> None:
    """`data` under `path` whole or not at all; a failure leaves no temporary file behind."""
    temporary = path.with_name(path.name + ".tmp")
    with disk.refusing(path, doing):
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                disk.write_all(descriptor, data)
                disk.datasync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, path)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
    fsync_folder(path.parent)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's content, or JournalError if it is damaged or of another format.

    The seal is checked over the content's bytes as they were written, so a checkpoint verifies
    without its content being encoded again.
    """
    data = path.read_bytes()
    seal = _SEAL.match(data)
    if seal is None or not data.endswith(b"}"):
        raise JournalError(f"{path}: not a readable checkpoint (no seal at its start, or cut short)")
    body = data[seal.end():-1]
    if hashlib.sha256(body).hexdigest() != seal.group(1).decode():
        raise JournalError(f"{path}: checkpoint checksum does not match its content")
    try:
        content = json.loads(body)
    except ValueError as error:
        raise JournalError(f"{path}: not a readable checkpoint ({error})") from None
    if not isinstance(content, dict) or content.get("journal_format") != JOURNAL_FORMAT:
        found = content.get("journal_format") if isinstance(content, dict) else None
        raise JournalError(f"{path}: checkpoint of journal format {found!r}; "
                           f"this release reads format {JOURNAL_FORMAT}")
    return content


class JournalLock:
    """An exclusive, non-blocking lock on the journal folder, released when the process dies."""

    def __init__(self, folder: Path):
        self.path = folder / "LOCK"
        with disk.refusing(self.path, "lock the journal"):
            self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "unknown"
            self.handle.close()
            raise JournalLocked(
                f"{folder}: journal is in use by another live process (pid {holder}); "
                "stop that process first, or give this one its own --journal"
            ) from None
        try:
            with disk.refusing(self.path, "write this process's id into the journal's lock"):
                self.handle.seek(0)
                self.handle.truncate()
                self.handle.write(str(os.getpid()))
                self.handle.flush()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if not self.handle.closed:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            try:
                self.handle.close()
            except OSError:  # the pid could not be flushed (a full disk): the lock is released all the same
                pass


@dataclass
class SegmentReading:
    """What one segment held: its header, its records, and a torn final line if there was one."""

    path: Path
    header: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    torn_tail: bool = False


def read_segment(path: Path, *, last: bool) -> SegmentReading:
    """Every record of a segment, refusing damage anywhere but a torn final line of the last segment."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # after the final newline: empty, or a line torn mid-write
    torn = bool(tail)
    if torn and not last:
        raise JournalError(f"{path}: an earlier segment ends in a torn line; the journal was damaged after it was written")
    if not lines:
        raise JournalError(f"{path}: segment has no complete header; the journal is truncated — restore it from backup")
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(decode(line))
        except BadRecord as error:
            raise JournalError(f"{path}:{number}: {error}; the journal is corrupt — restore it from backup") from None
    header = records.pop(0)
    if header.get("source") != CONTROL or header.get("type") != "journal_header":
        raise JournalError(f"{path}:1: not a journal segment (no header)")
    if header.get("journal_format") != JOURNAL_FORMAT:
        raise JournalError(
            f"{path}:1: journal format {header.get('journal_format')!r}; this release reads format {JOURNAL_FORMAT} — "
            "recover it with the release that wrote it"
        )
    return SegmentReading(path, header, records, torn)


class SegmentWriter:
    """Appends sealed records to one segment; every `append` is durable when it returns, or raises.

    A write or sync that fails (a full disk, an I/O error) raises
    :class:`JournalNotDurable` before anything that depends on it can be
    answered, after cutting the segment back to its last complete write (so no
    partial record stays to be glued to a later one); the writer then refuses
    every further append, as the disk's state is no longer known. Opening an
    existing segment syncs it: what recovery read from it and re-sends is on disk.
    """

    def __init__(self, path: Path, header: dict[str, Any] | None = None):
        self.path = path
        self.broken: JournalNotDurable | None = None
        fresh = not path.exists()
        if fresh:
            if header is None:
                raise ValueError("a new segment needs a header")
            _write_atomically(path, encode(header), "create a journal segment")  # whole or not at all
        with disk.refusing(path, "open a journal segment for appending"):
            if torn := (not fresh and _ends_torn(path)):
                _cut_torn_tail(path)
            self.handle = open(path, "ab", buffering=0)
            self.size = os.fstat(self.handle.fileno()).st_size  #: bytes written whole (durable after a sync)
            if not fresh:
                disk.datasync(self.handle.fileno())
        self.torn_tail_dropped = torn

    def append(self, records: list[dict[str, Any]]) -> None:
        self.append_lines([encode(record) for record in records])

    def append_lines(self, lines: list[bytes]) -> None:
        """Sealed lines (from `encode` or `encode_raw`), durable when this returns."""
        if lines:
            self._write(b"".join(lines))
            self.sync()

    def append_unsynced(self, records: list[dict[str, Any]]) -> None:
        """Written now, durable at the next `append`: for markers whose loss is harmless."""
        self._write(b"".join(encode(record) for record in records))

    def sync(self) -> None:
        """Make everything written so far durable (markers written by `append_unsynced`)."""
        self._refuse_if_broken()
        try:
            disk.datasync(self.handle.fileno())
        except OSError as error:  # never retried: after a failed sync the kernel may have dropped the pages
            self._break(f"make the journal durable (fdatasync up to byte {self.size:,})", error)

    def _write(self, data: bytes) -> None:
        self._refuse_if_broken()
        try:
            disk.write_all(self.handle.fileno(), data)
        except OSError as error:
            self._cut_back()
            self._break(f"append {len(data):,} bytes to the journal at byte {self.size:,}", error)
        self.size += len(data)

    def _cut_back(self) -> None:
        """Best effort: drop a partial write, so the segment ends with a whole record (recovery copes if not)."""
        try:
            os.ftruncate(self.handle.fileno(), self.size)
        except OSError:
            pass

    def _break(self, doing: str, error: OSError) -> None:
        self.broken = disk.not_durable(self.path, doing, error)
        raise self.broken

    def _refuse_if_broken(self) -> None:
        if self.broken is not None:
            raise self.broken

    def close(self) -> None:
        self.handle.close()


def _ends_torn(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def _cut_torn_tail(path: Path) -> None:
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as handle:
        handle.truncate(keep)
        disk.fsync(handle.fileno())


def fsync_folder(folder: Path) -> None:
    """Make the folder's entries (a rename, a new file) durable."""
    with disk.refusing(folder, "make the journal folder's entries durable (fsync)"):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            disk.fsync(descriptor)
        finally:
            os.close(descriptor)


def iter_journal_events(folder: Path) -> Iterator[dict[str, Any]]:
    """The events (not control records) of every segment, in order: a journal read as a broker event log."""
    numbers = segment_numbers(folder)
    for number in numbers:
        reading = read_segment(folder / segment_name(number), last=number == numbers[-1])
        yield from (record for record in reading.records if record.get("source") != CONTROL)
