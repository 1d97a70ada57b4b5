"""How far the load of one file has got, for a progress bar, while DuckDB does the work.

DuckDB's readers (CSV, Parquet, JSON) take a file in one statement and say how far
they have got only through ``query_progress()``, which another thread may read while
the statement runs. A load has two phases, staging (the adapter's reading and
parsing) and storing (checks and insert); ``stage_share`` is the part of the bar the
first takes, which depends on the format (see :data:`safeguards.adapters.STAGE_SHARE`).

A compressed log is unpacked first (:mod:`safeguards.store.compressed`), which then
takes the first :data:`UNPACK_SHARE` of the bar.

DuckDB's figure for a statement can be coarse (steps of a third over a temporary
table), stay at 100 while the last rows are worked on, or be 100 from the start (a
scan of rows written earlier in the same transaction: why staging runs before it), so
the bar is a guide, not a clock; it never goes backwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

import duckdb
from .rows import one_row

#: The share of a compressed log's load that unpacking takes: 0.84 s of about 7.5 s for a
#: gzipped 1M-line JSON lines log (30 MB packed, 236 MB plain).
UNPACK_SHARE = 0.1

_SETTINGS = {"enable_progress_bar": "true", "enable_progress_bar_print": "false", "progress_bar_time": "0"}


class LoadProgress:
    """Reports the share of one file's load done, from 0 to 1, to ``report``; use as a context manager."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, report: Callable[[float], None], stage_share: float, every: float = 0.2
    ) -> None:
        self.con, self.report, self.stage_share, self.every = con, report, stage_share, every
        self.staging = (0.0, stage_share)  # the bar's staging part: first (after unpacking, if any)
        self.span = self.staging  # where the running statement's progress goes; storing() moves it on
        self.in_pieces = False  # a file loaded piece by piece: each piece's span covers its staging and storing
        self.shown = 0.0
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.saved: dict[str, str] = {}
        self.thread: threading.Thread | None = None

    def unpacked(self, fraction: float) -> None:
        """The log is compressed, and this share of it has been unpacked: the rest of the bar moves up."""
        start = UNPACK_SHARE
        self.staging = self.span = (start, start + (1.0 - start) * self.stage_share)
        self._show(start * fraction)

    def staging_step(self, low: float, high: float) -> None:
        """The statements that follow take staging from share ``low`` of it to ``high`` (an adapter that
        stages in several statements says so, or each would fill the whole staging part)."""
        start, end = self.staging
        self.span = (start + (end - start) * low, start + (end - start) * high)
        self._show(self.span[0])

    def piece(self, low: float, high: float) -> None:
        """A file loaded piece by piece (JSON lines): staging and storing the next piece take the bar (after
        unpacking, if any) from share ``low`` of it to ``high``."""
        self.in_pieces = True
        start = self.staging[0]
        self.span = (start + (1.0 - start) * low, start + (1.0 - start) * high)
        self._show(self.span[0])

    def storing(self) -> None:
        """The next statements check and store the staged rows."""
        if self.in_pieces:
            return
        staged = self.staging[1]
        self._show(staged)
        self.span = (staged, 1.0)

    def staged(self, fraction: float) -> None:
        """An adapter that parses in Python (FIX) says how far it has got through the file."""
        start, end = self.staging
        self._show(start + (end - start) * fraction)

    def _show(self, done: float) -> None:
        with self.lock:
            if done > self.shown:
                self.shown = done
                self.report(done)

    def _poll(self) -> None:
        while not self.stopped.wait(self.every):
            percent = self.con.query_progress()
            if percent >= 0:
                start, end = self.span
                self._show(start + (end - start) * min(percent, 100.0) / 100.0)

    def __enter__(self) -> Self:
        for name, value in _SETTINGS.items():
            self.saved[name] = str(one_row(self.con, "SELECT current_setting(?)", [name])[0])
            self.con.execute(f"SET {name} = {value}")
        self.thread = threading.Thread(target=self._poll, name="safeguards-load-progress", daemon=True)
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()
        for name, value in reversed(self.saved.items()):  # setting the print option turns the bar on: it goes first
            self.con.execute(f"SET {name} = {value}")
