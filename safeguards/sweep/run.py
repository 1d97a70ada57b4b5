"""``run_sweep``: every variant of the grid backtested on the same stores, in parallel, resumable.

The sweep folder holds ``sweep.json`` (the plan), and per variant
``<hash12>/policy.yaml`` and one run folder per dataset (``history``, and
``baseline`` with a clean baseline store), each a complete backtest run folder
(promotable evidence: it names the store) with a done marker. Run again, a sweep
does only the backtests without one; a failed backtest leaves its error beside
it and is tried again.

Each store is read once, by a task on a worker, into a Parquet export in
``.exports/<dataset>`` that every variant's backtest reads by path
(:mod:`.exports`); the exports are removed when the sweep ends (an interrupted
sweep's are used again when their store has not changed).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..backtest.replay import open_run_folder
from ..backtest.source import EventSource
from ..errors import PolicyError, SafeguardsError, UsageError
from .cluster import Cluster
from .exports import export_store, read_marker
from .grid import Variant, Vary, plan_variants
from .tasks import DONE, backtest_task, failure_file

PLAN = "sweep.json"
#: The stores' Parquet exports while the sweep runs (one folder per dataset).
EXPORTS = ".exports"
#: ``progress(backtests_done, backtests_total, failed, events_done)``; called as each backtest ends.
SweepProgress = Callable[[int, int, int, int], None]


@dataclass(frozen=True)
class Dataset:
    """A store every variant is backtested on: ``history`` (labelled or not) or a clean ``baseline``."""

    name: str
    db: Path
    labels: Path | None = None

    def digest(self) -> str:
        """The store's data digest, as the backtest's evidence names it (read-only, so workers may read it too)."""
        if not self.db.is_file():
            flag = "--db" if self.name == "history" else "--baseline"
            raise UsageError(f"{flag} {self.db}: no such database; load logs first with "
                             f"`safeguards ingest LOG --db {self.db}`")
        if self.labels is not None and not self.labels.is_file():
            raise UsageError(f"labels {self.labels}: no such file")
        try:
            con = duckdb.connect(str(self.db), read_only=True)
        except duckdb.Error as error:
            raise UsageError(f"{self.db}: cannot open the store ({error}); is another command writing it?") from None
        try:
            digests = [row[0] for row in con.execute("SELECT sha256 FROM ingests ORDER BY ingest_id").fetchall()]
        except duckdb.Error:
            raise UsageError(f"{self.db}: not an event store made by `safeguards ingest`") from None
        finally:
            con.close()
        if not digests:
            raise UsageError(f"{self.db}: holds no ingested logs; run `safeguards ingest LOG --db {self.db}`")
        return EventSource(None, self.db, str(self.db), digests).digest  # type: ignore[arg-type]


def describe_error(error: BaseException) -> str:
    """One failed backtest's error as a person reads it (a policy's problems with their places)."""
    if isinstance(error, PolicyError):
        return error.render(snippet=False)
    if isinstance(error, SafeguardsError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _done(folder: Path, digest: str) -> dict[str, Any] | None:
    """The run's result when its done marker is there and it was made from the same data; else None."""
    try:
        done = json.loads((folder / DONE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return done if done.get("evidence", {}).get("dataset", {}).get("digest") == digest else None


def run_sweep(
    policy: str | Path,
    vary: Sequence[Vary | str],
    out: str | Path,
    *,
    db: str | Path,
    labels: str | Path | None = None,
    baseline: str | Path | None = None,
    baseline_labels: str | Path | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: SweepProgress | None = None,
) -> "SweepReport":
    """Backtest every variant of ``policy`` over the ``vary`` grid on ``db`` (and a clean ``baseline``); report.

    ``workers=0`` runs in this process; otherwise on Ray: a local runtime of
    ``workers`` processes (default: the core count), or the cluster at
    ``ray_address`` (or ``RAY_ADDRESS``), whose workers must reach the stores
    and ``out`` at the same paths (shared storage).
    """
    from .report import read_sweep

    started = time.perf_counter()
    cluster = Cluster.choose(workers, ray_address)
    variants = plan_variants(policy, vary)
    datasets = [Dataset("history", Path(db).resolve(), Path(labels).resolve() if labels else None)]
    if baseline is not None:
        datasets.append(Dataset("baseline", Path(baseline).resolve(),
                                Path(baseline_labels).resolve() if baseline_labels else None))
    digests = {d.name: d.digest() for d in datasets}
    out_dir = Path(out).resolve()
    open_run_folder(out_dir)
    _write_plan(out_dir, policy, vary, variants, datasets, digests)
    exports = {d.name: out_dir / EXPORTS / d.name for d in datasets}
    tasks, skipped = [], 0
    for variant in variants:
        folder = out_dir / variant.key
        folder.mkdir(exist_ok=True)
        (folder / "policy.yaml").write_text(variant.text, "utf-8")
        for dataset in datasets:
            run_folder = folder / dataset.name
            if _done(run_folder, digests[dataset.name]) is not None:
                skipped += 1
                continue
            tasks.append((variant.text, str(Path(policy)), str(dataset.db), str(exports[dataset.name]),
                          str(dataset.labels) if dataset.labels else None, str(run_folder)))
    total, finished, failed, events = len(tasks) + skipped, skipped, 0, 0
    if progress is not None:
        progress(finished, total, failed, events)
    _export(cluster, [d for d in datasets if any(task[3] == str(exports[d.name]) for task in tasks)], exports, digests)
    for task, result, error in cluster.map(backtest_task, tasks):
        finished += 1
        if error is not None:
            failed += 1
            failure_file(Path(task[-1])).write_text(describe_error(error) + "\n", "utf-8")
        else:
            events += result["evidence"]["metrics"]["events"]
        if progress is not None:
            progress(finished, total, failed, events)
    shutil.rmtree(out_dir / EXPORTS, ignore_errors=True)  # the evidence names the stores, not their exports
    report = read_sweep(out_dir)
    report.ran, report.skipped, report.cluster = len(tasks), skipped, cluster.describe()
    report.seconds = time.perf_counter() - started
    return report


def _export(cluster: Cluster, datasets: Sequence[Dataset], exports: dict[str, Path], digests: dict[str, str]) -> None:
    """Export each store the sweep still has to read, once, on a worker; an export of the same data is kept."""
    pending = []
    for dataset in datasets:
        marker = read_marker(exports[dataset.name])
        if not (marker and marker["store"] == str(dataset.db) and marker["digest"] == digests[dataset.name]):
            pending.append((str(dataset.db), str(exports[dataset.name])))
    for (db, _), _, error in cluster.map(export_store, pending):
        if error is not None:
            raise UsageError(f"{db}: could not be read for the sweep: {describe_error(error)}")


def _write_plan(out_dir: Path, policy: str | Path, vary: Sequence[Vary | str], variants: list[Variant],
                datasets: list[Dataset], digests: dict[str, str]) -> None:
    plan = {
        "policy": str(policy),
        "vary": [(v if isinstance(v, Vary) else Vary.parse(v)).describe() for v in vary],
        "datasets": [{"name": d.name, "db": str(d.db), "labels": str(d.labels) if d.labels else None,
                      "digest": digests[d.name]} for d in datasets],
        "variants": [{"key": v.key, "identity": v.policy.identity, "hash": v.policy.hash,
                      "settings": dict(v.settings)} for v in variants],
    }
    (out_dir / PLAN).write_text(json.dumps(plan, indent=2) + "\n", "utf-8")
