"""A deterministic simulator of a multi-leg options book with labelled, injected faults (issue 5).

``simulate_to(path, SimOptions(seed=1, groups=500))`` writes canonical events
(JSON lines, or Parquet when the path ends in ``.parquet``) and the labels of
every injected fault beside them (see :mod:`.labels` for their schema). Same
options, same bytes.

Modules: :mod:`.market` (series, prices, quotes), :mod:`.groups` (one group's
life), :mod:`.faults` (fault kinds and expectations), :mod:`.delivery` (seq and
broker_seq numbering), :mod:`.simulation` (merging groups into one log),
:mod:`.writer` (JSON lines, Parquet, labels).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .faults import KINDS, NAMES, FaultKind, default_rates, no_faults
from .options import SimOptions, parse_rates
from .simulation import Summary, simulate
from .writer import labels_path, open_writer, write_labels


def simulate_to(path: str | Path, options: SimOptions,
                progress: Callable[[int, int], None] | None = None) -> tuple[Summary, Path]:
    """Write the log to ``path`` and its labels beside it; return the summary and the labels' path."""
    path = Path(path)
    writer = open_writer(path)
    try:
        summary = simulate(options, writer, progress)
    finally:
        writer.close()
    where = labels_path(path)
    write_labels(where, summary.labels)
    return summary, where


__all__ = [
    "KINDS", "NAMES", "FaultKind", "SimOptions", "Summary", "default_rates", "labels_path", "no_faults",
    "open_writer", "parse_rates", "simulate", "simulate_to", "write_labels",
]
