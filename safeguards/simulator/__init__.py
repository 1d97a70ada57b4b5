"""A deterministic simulator of a multi-leg options book with labelled, injected faults (issue 5).

``simulate_to(path, SimOptions(seed=1, groups=500))`` writes canonical events
(JSON lines, or Parquet when the path ends in ``.parquet``) and the labels of
every injected fault beside them (see :mod:`.labels` for their schema). Same
options, same bytes, whatever the number of worker processes.

Modules: :mod:`.market` (series, prices, quotes), :mod:`.groups` (one group's
life), :mod:`.faults` (fault kinds and expectations), :mod:`.schedule` (the run's
master stream, cut into windows), :mod:`.window` (windows of groups built on
their own), :mod:`.workers` (where windows are built), :mod:`.delivery` (seq and
broker_seq numbering), :mod:`.simulation` (merging windows into one log),
:mod:`.writer` (JSON lines, Parquet, labels).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .faults import KINDS, NAMES, FaultKind, default_rates, no_faults
from .options import SimOptions, parse_rates
from .simulation import Summary, default_workers, simulate
from .writer import format_of, labels_path, open_sink, write_labels


def simulate_to(path: str | Path, options: SimOptions, progress: Callable[[int, int], None] | None = None,
                workers: int | None = None) -> tuple[Summary, Path]:
    """Write the log to ``path`` and its labels beside it; return the summary and the labels' path.

    ``workers``: processes building windows of groups (0: all in this process; None:
    one per CPU for runs of more than one window). The bytes do not depend on it.
    """
    path = Path(path)
    if workers is None:
        workers = default_workers(options)
    if format_of(path) == "fix":
        return _simulate_fix(path, options, progress, workers)
    where = labels_path(path)
    log_partial, labels_partial = _partial(path), _partial(where)
    try:
        sink = open_sink(log_partial)
        try:
            summary = simulate(options, sink, format_of(path), progress, workers)
        finally:
            sink.close()
        write_labels(labels_partial, summary.labels)
        os.replace(labels_partial, where)
        os.replace(log_partial, path)
    except BaseException:
        log_partial.unlink(missing_ok=True)
        labels_partial.unlink(missing_ok=True)
        raise
    return summary, where


def _simulate_fix(path: Path, options: SimOptions, progress: Callable[[int, int], None] | None,
                  workers: int) -> tuple[Summary, Path]:
    """The canonical log first (beside ``path``, removed after), then the same session as a FIX log, and its
    labels translated to what ingest makes of the FIX log (see :mod:`.fixlog`)."""
    import json

    from ..events import parse_timestamp
    from .fixlog import fix_labels, write_fix_log

    canonical = path.with_name(f"{path.name}.canonical.partial.jsonl")
    where, log_partial = labels_path(path), _partial(path)
    try:
        summary, canonical_labels = simulate_to(canonical, options, progress, workers)
        events = []
        with open(canonical, encoding="ascii") as lines:
            for line in lines:
                event = json.loads(line)
                for name in ("recv_ts", "broker_ts"):
                    if name in event:
                        event[name] = parse_timestamp(event[name])
                events.append(event)
        session = write_fix_log(events, log_partial)
        rows = [json.loads(line) for line in canonical_labels.read_text().splitlines()]
        with open(where, "w", encoding="ascii", newline="\n") as out:
            for row in fix_labels(rows, session):
                out.write(json.dumps(row, separators=(",", ":")) + "\n")
        os.replace(log_partial, path)
    except BaseException:
        log_partial.unlink(missing_ok=True)
        raise
    finally:
        canonical.unlink(missing_ok=True)
        labels_path(canonical).unlink(missing_ok=True)
    return summary, where


def _partial(path: Path) -> Path:
    """Where ``path`` is written until it is whole: a run stopped half way (Ctrl-C, a full disk) leaves
    no log that looks complete, and an earlier log of that name stays as it was."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


__all__ = [
    "KINDS", "NAMES", "FaultKind", "SimOptions", "Summary", "default_rates", "labels_path", "no_faults",
    "open_sink", "parse_rates", "simulate", "simulate_to", "write_labels",
]
