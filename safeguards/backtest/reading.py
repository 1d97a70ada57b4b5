"""What every policy replayed over the same events shares: the source, read once, and what is asked of it once.

A backtest's cost outside the engine is mostly here: DuckDB reading the store
and making Arrow batches, the labels read and matched to their log, each log's
session traits scanned off its events, the span and rejected rows counted. None
of it depends on the policy, so a replay of several policies (a sweep's group of
variants, or ``--compare``) does it once and hands the same batches to each
policy's :class:`~.lane.Lane`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from ..session import SessionTraits
from .scoring import labelled_log
from .source import EventSource, LogSession


@dataclass
class Reading:
    """An open event source with its labels and sessions; the counts every lane's evidence states, asked once."""

    source: EventSource
    label_rows: list[dict[str, Any]] | None = None
    labels: Path | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_clock: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.label_log = (labelled_log(self.source.con, self.label_rows, self.labels)
                          if self.label_rows is not None and self.labels is not None else None)
        self.sessions: dict[int, LogSession] = self.source.sessions()
        self.logs: dict[int, SessionTraits] = {ingest_id: s.traits for ingest_id, s in self.sessions.items()}

    @property
    def labelled(self) -> bool:
        return self.label_rows is not None

    @property
    def tracker_log(self) -> int | None:
        """With one log every event and alert is the labels' own: a tracker need not pick them out."""
        return self.label_log if len(self.source.file_digests) > 1 else None

    @cached_property
    def total(self) -> int:
        return self.source.stored_events()

    @cached_property
    def rejected(self) -> int:
        return self.source.rejected_rows()

    @cached_property
    def broker_span(self) -> tuple[int | None, int | None]:
        return self.source.broker_span()

    def close(self) -> None:
        self.source.close()
