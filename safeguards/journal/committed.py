"""How far the journal had committed, kept beside it, so a journal that ends before that is refused.

A segment cut exactly at a record boundary (writes lost below the filesystem,
an incomplete copy or restore) reads as a whole journal: nothing in it can say
that records are missing at its end. So after each durable append the journal
rewrites ``PATH/committed.json`` in place: the segment, its durable size, and
the inputs journaled so far. It is written after the append's fdatasync and
not synced itself (no second fsync on the hot path): after a power cut it may
be older than the segments, never newer, so it raises no false alarm; a
journal that ends before it lost records that may have been answered.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import JournalError
from . import disk

MARK_FILE = "committed.json"
_WIDTH = 127  # every mark the same length (then a newline): rewritten in place, never shorter than the last


@dataclass(frozen=True)
class Committed:
    """A durable point of the journal: inputs journaled through `arrivals`, segment `segment` at `size` bytes."""

    segment: int
    size: int
    arrivals: int

    def describe(self) -> str:
        return f"input {self.arrivals:,} (segment {self.segment}, {self.size:,} bytes)"


class CommitMark:
    """The mark file of one journal folder, open for the life of the journal."""

    def __init__(self, folder: Path):
        self.path = folder / MARK_FILE
        with disk.refusing(self.path, "open the journal's commit mark"):
            self._descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)

    def record(self, point: Committed) -> None:
        body = json.dumps(asdict(point), sort_keys=True, separators=(",", ":"))
        line = json.dumps({"crc": f"{zlib.crc32(body.encode()):08x}", "committed": asdict(point)}, sort_keys=True,
                          separators=(",", ":"))
        with disk.refusing(self.path, "note how far the journal has committed"):
            os.lseek(self._descriptor, 0, os.SEEK_SET)
            disk.write_all(self._descriptor, line.ljust(_WIDTH).encode() + b"\n")

    def close(self) -> None:
        os.close(self._descriptor)


def read_mark(folder: Path) -> Committed | None:
    """The last committed point noted in `folder`, None if there is none (a journal from before marks)."""
    path = folder / MARK_FILE
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise disk.not_durable(path, "read the journal's commit mark", error) from None
    if not text.strip():
        return None  # created, never written: nothing was committed yet
    try:
        content = json.loads(text)
        point = Committed(**content["committed"])
        body = json.dumps(asdict(point), sort_keys=True, separators=(",", ":"))
        intact = content["crc"] == f"{zlib.crc32(body.encode()):08x}"
    except (ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        raise JournalError(f"{path}: the journal's commit mark is damaged; if the journal folder was neither copied "
                           "nor restored, delete this file and start again (it only guards against a journal cut short)")
    return point


def refuse_if_short(folder: Path, mark: Committed | None, reached: Committed) -> None:
    """JournalError if recovery `reached` less than the `mark` says was committed: what is missing, what to do."""
    if mark is None:
        return
    short = reached.arrivals < mark.arrivals or (reached.segment, reached.size) < (mark.segment, mark.size)
    if not short:
        return
    missing = mark.arrivals - reached.arrivals
    lost = f"{missing:,} journaled input(s) are missing" if missing > 0 else "journaled records are missing"
    raise JournalError(
        f"{folder}: the journal ends at {reached.describe()} but had committed through {mark.describe()}: {lost}, "
        "and their decisions may have been answered (writes lost below the filesystem, or an incomplete copy or "
        f"restore). Restore the journal folder from a complete copy; if there is none, move {MARK_FILE} aside to "
        "recover what is there, and reconcile with the broker (--broker-open-orders)"
    )
