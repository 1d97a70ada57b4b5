"""What a worker does: a group of variants backtested on one store in one pass over the store's Parquet export.

A backtest with ``db=`` records its run in the store it reads, and DuckDB lets
one process write a file at a time; so each task backtests a scratch store of
its own, whose events are the export the sweep made once of the store
(:mod:`.exports`, read by path where the worker is: shared storage on a
cluster), and removes it. Reading and decoding the events is most of a
backtest's cost outside the engine, so a task takes a group of variants and
feeds each variant's engine the same batches (:func:`~safeguards.backtest.run_backtests`);
each variant still gets its own complete run folder. Only the runs' small
evidence comes back to the driver.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..backtest import BacktestResult, run_backtests
from ..backtest.audit import METRICS_FILE
from ..errors import PolicyError, SafeguardsError
from ..policy import CompiledPolicy
from .exports import scratch_store
from .progress import GroupProgress

#: A run folder's done marker: the task finished and its outputs are complete.
DONE = "DONE.json"
#: Beside a run folder (which may be what could not be made): the error its last attempt raised (a rerun tries again).
FAILED = ".FAILED.txt"


#: In a partition's part folder while its task runs: the scratch store the backtest writes (removed at the end).
SCRATCH = ".store"


def failure_file(run_folder: Path) -> Path:
    return run_folder.with_name(run_folder.name + FAILED)


def name_the_store(run_folder: Path, scratch: Path, db: Path) -> dict[str, Any]:
    """Make the run folder name the store its export was made from, not the removed scratch store; return its evidence.

    Promotion recomputes the figures from the events of the store a run names
    (the scratch store held the same events and ingests: same digest); naming
    the scratch store, gone with the task, would make every sweep's evidence unpromotable.
    """
    # As JSON writes them inside any string: the dataset's source, and the gates' details that name the store too.
    scratch_text, db_text = json.dumps(str(scratch))[1:-1], json.dumps(str(db))[1:-1]
    for name in (METRICS_FILE, "summary.json"):
        path = run_folder / name
        path.write_text(path.read_text("utf-8").replace(scratch_text, db_text), "utf-8")
    return json.loads((run_folder / METRICS_FILE).read_text("utf-8"))


def describe_error(error: BaseException) -> str:
    """One failed backtest's error as a person reads it (a policy's problems with their places)."""
    if isinstance(error, PolicyError):
        return error.render(snippet=False)
    if isinstance(error, SafeguardsError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def backtest_group(members: Sequence[tuple[str, str]], policy_path: str, db: str, export: str, labels: str | None,
                   scratch: str) -> list[dict[str, Any]]:
    """Backtest each ``(compiled_policy, run_folder)`` of ``members`` on ``export`` (of the store ``db``) in one pass.

    ``compiled_policy`` is the variant's compiled artifact (:meth:`CompiledPolicy.to_json`,
    as the driver compiled it from the YAML of ``policy_path``): read and checked
    against its hash, not compiled again.

    The export is read and decoded once for the whole group (:func:`run_backtests`);
    each run folder is what a backtest of that variant alone would write, with
    its done marker. Per member, in order: ``{"out", "done"}`` or ``{"out",
    "error"}`` (a member's failure is its own; the others go on). The group's
    scratch store lives in ``scratch``, removed at the end; how far its pass has come is written beside it (:mod:`.progress`).
    """
    runs: list[tuple[CompiledPolicy, str]] = []
    answers: dict[str, dict[str, Any]] = {}
    for text, out in members:
        failure_file(Path(out)).unlink(missing_ok=True)
        try:
            runs.append((CompiledPolicy.from_json(text, f"{policy_path} (a variant, compiled)"), out))
        except Exception as error:  # noqa: BLE001 - this member's failure; the group goes on
            answers[out] = {"out": out, "error": describe_error(error)}
    store = Path(scratch) / Path(db).name
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        progress = GroupProgress(Path(scratch), len(runs))
        results = run_backtests(runs, db=scratch_store(export, store), labels=labels, progress=progress) if runs else []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for (_, out), result in zip(runs, results):
        try:
            if isinstance(result, Exception):
                raise result
            answers[out] = {"out": out, "done": _mark_done(Path(out), result, store, Path(db))}
        except Exception as error:  # noqa: BLE001 - reported for this member
            answers[out] = {"out": out, "error": describe_error(error)}
    return [answers[out] for _, out in members]


def _mark_done(out_dir: Path, result: BacktestResult, scratch: Path, db: Path) -> dict[str, Any]:
    evidence = name_the_store(out_dir, scratch, db)
    done = {"evidence": evidence, "verdicts": result.summary.get("verdicts", {}),
            "seconds": round(result.seconds, 3), "run_id": result.run_id}
    (out_dir / DONE).write_text(json.dumps(done, indent=2, default=str) + "\n", "utf-8")
    return done
