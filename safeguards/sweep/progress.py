"""How far a running group has come, where the driver can read it before the group's answer.

A task hands back its answer only when it ends, and a group of variants is most
of a sweep's time; so a group writes the events its pass has replayed (times
its variants) into a small file beside its scratch folder, at most twice a second,
and the driver, while it waits for tasks, adds those up for the sweep's
progress. The file is on the storage the run folders are on (shared on a
cluster); it outlives the group's scratch store, so the driver never sees a
finished group's progress fall to nothing before its answer, and the sweep
removes it with the other groups' at its end.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

PROGRESS = ".progress.json"
#: Seconds between two writes of a group's progress.
EVERY = 0.5


class GroupProgress:
    """``progress(events_done, events_total)`` for :func:`~safeguards.backtest.run_backtests`: written beside ``folder``."""

    def __init__(self, folder: Path, runs: int) -> None:
        self.path, self.runs, self.written = progress_file(folder), runs, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.written < EVERY:
            return
        self.written = now
        staging = self.path.with_name(self.path.name + ".tmp")
        staging.write_text(json.dumps({"events": done * self.runs}), "utf-8")
        os.replace(staging, self.path)  # a reader sees the last whole file, never half of one


def progress_file(folder: Path) -> Path:
    return folder.with_name(folder.name + PROGRESS)


def read_progress(folder: Path) -> int:
    """The events the group of scratch ``folder`` has replayed so far (each variant's counted), 0 before its first write."""
    try:
        return int(json.loads(progress_file(folder).read_text("utf-8"))["events"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
