"""Bytes onto the journal's disk: every one of them, or a located error that says what to do.

A write may take fewer bytes than it was given (a filesystem filling up takes
what fits and says so only in the count), and a write or a sync may fail
(ENOSPC, EIO, EROFS...). Both mean the records cannot be made durable, so
nothing that depends on them may be answered. Every journal write and sync goes
through :func:`write_all`, :data:`datasync` and :data:`fsync` here, and every
OS error of the journal's files is turned into a :class:`JournalNotDurable` by
:func:`refusing`: tests replace these three names to inject faults.
"""

from __future__ import annotations

import errno as errnos
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import JournalNotDurable

write = os.write
datasync = os.fdatasync
fsync = os.fsync

#: Below this much free space at start-up the journal refuses to serve: it would start only to stop
#: at its first batches. Room for thousands of records and a checkpoint of a small state.
MIN_FREE_BYTES = 1 << 20

_RESTART = "then restart with the same --journal: every decision answered is in it"
_ADVICE = {
    errnos.ENOSPC: f"the journal's filesystem is full: free space on it (or move the journal folder to a disk with "
                   f"room), {_RESTART}",
    errnos.EDQUOT: f"the disk quota of the journal's filesystem is used up: raise it or free space, {_RESTART}",
    errnos.EROFS: "the journal's filesystem is read-only: remount it read-write (or copy the journal folder to a "
                  f"writable disk and give --journal the copy), {_RESTART}",
    errnos.EIO: "the disk reported an I/O error and may be failing: check it (dmesg), copy the journal folder to a "
                f"healthy disk and give --journal the copy, {_RESTART}",
    errnos.EACCES: "permission denied: run as a user who may write the journal folder",
    errnos.EPERM: "permission denied: run as a user who may write the journal folder",
}


def write_all(descriptor: int, data: bytes) -> None:
    """Write every byte of `data`, retrying after a short count; OSError if the disk takes no more."""
    view = memoryview(data)
    while view:
        written = write(descriptor, view)
        if written <= 0:  # a write that takes nothing and reports no error: treat it as a full disk
            raise OSError(errnos.ENOSPC, os.strerror(errnos.ENOSPC))
        view = view[written:]


def not_durable(path: Path | str, doing: str, error: OSError) -> JournalNotDurable:
    """The located error for an OS error of a journal file: what failed, where, and what to do."""
    code = error.errno
    name = errnos.errorcode.get(code, "") if code is not None else ""
    cause = f"{error.strerror or error}" + (f" [{name}]" if name else "")
    advice = _ADVICE.get(code, "fix the journal's disk") if code is not None else "fix the journal's disk"
    return JournalNotDurable(f"{path}: cannot {doing}: {cause}. A decision is answered only once it is on disk, so "
                             f"safeguards stops here; {advice}", path=str(path), errno=code)


@contextmanager
def refusing(path: Path | str, doing: str) -> Iterator[None]:
    """Run a step on a journal file; an OSError in it becomes :func:`not_durable`'s error."""
    try:
        yield
    except OSError as error:
        raise not_durable(path, doing, error) from None


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding `folder`."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def ensure_room(folder: Path) -> None:
    """Refuse to start on a disk without room: the first batches would fail before they are answered."""
    free = free_bytes(folder)
    if free < MIN_FREE_BYTES:
        raise not_durable(folder, f"start journaling with only {free:,} bytes free (it needs {MIN_FREE_BYTES:,})",
                          OSError(errnos.ENOSPC, os.strerror(errnos.ENOSPC)))
