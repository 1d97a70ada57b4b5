"""What a worker does: one policy's backtest of one store, read from the store's Parquet export.

A backtest with ``db=`` records its run in the store it reads, and DuckDB lets
one process write a file at a time; so each task backtests a scratch store of
its own in its run folder, whose events are the export the sweep made once of
the store (:mod:`.exports`, read by path where the worker is: shared storage on a
cluster), and removes it. Only the run's small evidence comes back to the driver.
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
from .exports import scratch_store

#: A run folder's done marker: the task finished and its outputs are complete.
DONE = "DONE.json"
#: Beside a run folder (which may be what could not be made): the error its last attempt raised (a rerun tries again).
FAILED = ".FAILED.txt"


#: In a run folder while its task runs: the scratch store the backtest writes (removed at the end).
SCRATCH = ".store"


def failure_file(run_folder: Path) -> Path:
    return run_folder.with_name(run_folder.name + FAILED)


def name_the_store(run_folder: Path, scratch: Path, db: Path) -> dict[str, Any]:
    """Make the run folder name the store its export was made from, not the removed scratch store; return its evidence.

    Promotion recomputes the figures from the events of the store a run names
    (the scratch store held the same events and ingests: same digest); naming
    the scratch store, gone with the task, would make every sweep's evidence unpromotable.
    """
    for name in (METRICS_FILE, "summary.json"):
        path = run_folder / name
        path.write_text(path.read_text("utf-8").replace(json.dumps(str(scratch)), json.dumps(str(db))), "utf-8")
    return json.loads((run_folder / METRICS_FILE).read_text("utf-8"))


def backtest_task(policy_text: str, policy_path: str, db: str, export: str, labels: str | None,
                  out: str) -> dict[str, Any]:
    """Backtest the policy ``policy_text`` on ``export`` (of the store ``db``); write the run folder ``out`` and its done marker."""
    policy = compile_text(policy_text, policy_path)
    out_dir = Path(out)
    failure_file(out_dir).unlink(missing_ok=True)
    open_run_folder(out_dir)  # a folder that cannot be made is said so before any work is done in it
    scratch = out_dir / SCRATCH / Path(db).name
    try:
        result = run_backtest(policy, out_dir, db=scratch_store(export, scratch), labels=labels)
    finally:
        shutil.rmtree(out_dir / SCRATCH, ignore_errors=True)
    evidence = name_the_store(out_dir, scratch, Path(db))
    done = {"evidence": evidence, "verdicts": result.summary.get("verdicts", {}),
            "seconds": round(result.seconds, 3), "run_id": result.run_id}
    (out_dir / DONE).write_text(json.dumps(done, indent=2, default=str) + "\n", "utf-8")
    return done
