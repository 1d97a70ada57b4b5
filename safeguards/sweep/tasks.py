"""What a worker does: one policy's backtest of one store, on a private copy of the store.

A backtest with ``db=`` records its decisions in the store, and DuckDB lets one
process write a file at a time; so each task copies the store (a file copy,
read by path where the worker is, shared storage on a cluster) into its run
folder, backtests the copy through :func:`~safeguards.backtest.run_backtest`,
and removes it. Only the run's small evidence comes back to the driver.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..backtest import run_backtest
from ..backtest.audit import METRICS_FILE
from ..backtest.replay import open_run_folder
from ..policy import compile_text

#: A run folder's done marker: the task finished and its outputs are complete.
DONE = "DONE.json"
#: Beside a run folder (which may be what could not be made): the error its last attempt raised (a rerun tries again).
FAILED = ".FAILED.txt"


def failure_file(run_folder: Path) -> Path:
    return run_folder.with_name(run_folder.name + FAILED)
SCRATCH = ".store"


def copy_store(db: Path, into: Path) -> Path:
    """A private copy of the store ``db`` (and its write-ahead log, if any) in ``into``, under the same name."""
    into.mkdir(parents=True, exist_ok=True)
    copy = into / db.name
    shutil.copyfile(db, copy)
    wal = db.with_name(db.name + ".wal")
    if wal.is_file():
        shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
    return copy


def name_the_store(run_folder: Path, copy: Path, db: Path) -> dict[str, Any]:
    """Make the run folder name the store it was made from, not the removed copy; return its evidence.

    Promotion recomputes the figures from the events of the store a run names
    (the copy held the same events: same digest); naming the copy, gone with the
    scratch folder, made every sweep's evidence unpromotable.
    """
    for name in (METRICS_FILE, "summary.json"):
        path = run_folder / name
        path.write_text(path.read_text("utf-8").replace(json.dumps(str(copy)), json.dumps(str(db))), "utf-8")
    return json.loads((run_folder / METRICS_FILE).read_text("utf-8"))


def backtest_task(policy_text: str, policy_path: str, db: str, labels: str | None, out: str) -> dict[str, Any]:
    """Backtest the policy ``policy_text`` on a copy of ``db``; write the run folder ``out`` and its done marker."""
    policy = compile_text(policy_text, policy_path)
    out_dir = Path(out)
    failure_file(out_dir).unlink(missing_ok=True)
    open_run_folder(out_dir)  # a folder that cannot be made is said so before the store is copied into it
    scratch = out_dir / SCRATCH
    try:
        copy = copy_store(Path(db), scratch)
        result = run_backtest(policy, out_dir, db=copy, labels=labels)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    evidence = name_the_store(out_dir, copy, Path(db))
    done = {"evidence": evidence, "verdicts": result.summary.get("verdicts", {}),
            "seconds": round(result.seconds, 3), "run_id": result.run_id}
    (out_dir / DONE).write_text(json.dumps(done, indent=2, default=str) + "\n", "utf-8")
    return done
