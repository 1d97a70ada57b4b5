"""The engine's journal: durable, append-only, sealed records; see :mod:`.files` for the layout."""

from .files import JOURNAL_FORMAT, JournalLock, SegmentWriter, iter_journal_events, read_segment
from .records import decode, encode

__all__ = [
    "JOURNAL_FORMAT", "JournalLock", "SegmentWriter", "decode", "encode", "iter_journal_events",
    "read_segment",
]
