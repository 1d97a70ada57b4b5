"""``run_sweep``: every variant of the grid backtested on the same stores, in parallel, resumable.

The sweep folder holds ``sweep.json`` (the plan), and per variant
``<hash12>/policy.yaml`` and one run folder per dataset (``history``, and
``baseline`` with a clean baseline store), each a complete backtest run folder
(promotable evidence: it names the store) with a done marker. Run again, a sweep
does only the backtests without one; a failed backtest leaves its error beside
it and is tried again.

Each store is read once (by a task on a worker of a cluster; with a local
runtime, by the driver while the runtime starts) into a Parquet export in
``.exports/<dataset>`` that the backtests read by path (:mod:`.exports`); the
exports are removed when the sweep ends (an interrupted sweep's are used again
when their store has not changed). A task backtests a *group* of variants on
one store, reading and decoding the export once for all of them
(:func:`.tasks.backtest_group`): each store's variants still to do are split
evenly into as many groups as there are workers (more when a group would hold
over :data:`GROUP_MAX`, whose engines are all in one worker's memory at once),
so every worker is busy and each reads the store about once.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ..backtest.replay import open_run_folder
from ..backtest.source import EventSource
from ..errors import UsageError
from .cluster import Cluster, release
from .exports import export_store, read_marker
from .grid import Variant, Vary, plan_variants
from .progress import read_progress
from .tasks import DONE, backtest_group, describe_error, failure_file

PLAN = "sweep.json"
#: The stores' Parquet exports while the sweep runs (one folder per dataset).
EXPORTS = ".exports"
#: The groups' scratch stores while they run (one folder per group).
GROUPS = ".scratch"
#: Variants one task backtests at most: their engines (about 100 MB each at 1M events) share a worker's memory.
GROUP_MAX = 8
#: ``progress(backtests_done, backtests_total, failed, events_done)``; called as each backtest ends, and on Ray
#: every second between (``events_done`` then counting the running groups' events so far).
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
    group: int | None = None,
) -> "SweepReport":
    """Backtest every variant of ``policy`` over the ``vary`` grid on ``db`` (and a clean ``baseline``); report.

    ``workers=0`` runs in this process; otherwise on Ray: a local runtime of
    ``workers`` processes (default: the core count), or the cluster at
    ``ray_address`` (or ``RAY_ADDRESS``), whose workers must reach the stores
    and ``out`` at the same paths (shared storage). ``group`` caps the variants
    one task backtests in one pass over a store (default: split evenly over the
    workers, at most :data:`GROUP_MAX`; 1: a pass per variant).
    """
    from .report import read_sweep

    started = time.perf_counter()
    cluster = Cluster.choose(workers, ray_address)
    if group is not None and group < 1:
        raise UsageError(f"group {group}: give the most variants a task backtests at once (1 or more)")
    began = cluster.start()  # Ray starts while the driver plans, writes and exports; the first task waits for it
    try:
        variants, tasks, pending, skipped, out_dir = _prepare(
            cluster, policy, vary, out, db, labels, baseline, baseline_labels, group, progress)
    except BaseException:
        if began:
            release()  # no task will run: the runtime begun for them goes
        raise
    ran = sum(len(members) for members in pending.values())
    total, finished, failed, events = ran + skipped, skipped, 0, 0
    running = {task[-1] for task in tasks}

    def poll() -> None:  # with the running groups' events so far, between and with their answers
        if progress is not None:
            progress(finished, total, failed, events + sum(read_progress(Path(folder)) for folder in running))

    for task, answers, error in cluster.map(backtest_group, tasks, poll if progress is not None else None):
        if error is not None:  # the whole group failed (its store or labels): every member says why
            answers = [{"out": out, "error": describe_error(error)} for _, out in task[0]]
        for answer in answers:
            finished += 1
            if "error" in answer:
                failed += 1
                failure_file(Path(answer["out"])).write_text(answer["error"] + "\n", "utf-8")
            else:
                events += answer["done"]["evidence"]["metrics"]["events"]
        running.discard(task[-1])  # its members' events are counted now, in place of its progress
        poll()
    for scratch in (EXPORTS, GROUPS):  # the evidence names the stores, not their exports
        shutil.rmtree(out_dir / scratch, ignore_errors=True)
    report = read_sweep(out_dir, {variant.key: variant.policy for variant in variants})
    report.ran, report.skipped, report.cluster = ran, skipped, cluster.describe()
    report.seconds = time.perf_counter() - started
    return report


def _prepare(cluster: Cluster, policy: str | Path, vary: Sequence[Vary | str], out: str | Path, db: str | Path,
             labels: str | Path | None, baseline: str | Path | None, baseline_labels: str | Path | None,
             group: int | None, progress: SweepProgress | None) -> tuple[Any, ...]:
    """What the driver does before the first backtest: the variants compiled, the plan and policies written, the
    backtests still to do grouped into tasks, and the stores exported (in this process unless on a cluster)."""
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
    pending: dict[str, list[tuple[str, str]]] = {d.name: [] for d in datasets}
    skipped = 0
    for variant in variants:
        folder = out_dir / variant.key
        folder.mkdir(exist_ok=True)
        (folder / "policy.yaml").write_text(variant.text, "utf-8")
        for dataset in datasets:
            run_folder = folder / dataset.name
            if _done(run_folder, digests[dataset.name]) is not None:
                skipped += 1
            else:
                # The variant as the driver compiled it: a worker reads the artifact rather than compiling the YAML again.
                pending[dataset.name].append((variant.policy.to_json(), str(run_folder)))
    tasks = []
    for dataset in datasets:
        for number, members in enumerate(split(pending[dataset.name], _slots(cluster), group)):
            tasks.append((tuple(members), str(Path(policy)), str(dataset.db), str(exports[dataset.name]),
                          str(dataset.labels) if dataset.labels else None,
                          str(out_dir / GROUPS / f"{dataset.name}-{number:03d}")))
    if progress is not None:
        progress(skipped, skipped + sum(len(members) for members in pending.values()), 0, 0)
    _export(cluster, [d for d in datasets if pending[d.name]], exports, digests)
    shutil.rmtree(out_dir / GROUPS, ignore_errors=True)  # an interrupted sweep's groups: their stale progress too
    return variants, tasks, pending, skipped, out_dir


def _slots(cluster: Cluster) -> int:
    """How many tasks can run at once: the workers (one in this process)."""
    return 1 if cluster.in_process else max(1, cluster.workers)


def split(members: Sequence[Any], slots: int, most: int | None = None) -> list[list[Any]]:
    """``members`` in contiguous groups of near-equal size, none over ``most`` (default :data:`GROUP_MAX`): a
    multiple of ``slots`` groups (as far as there are members), so no worker is left with the last one alone."""
    if not members:
        return []
    needed = math.ceil(len(members) / (most or GROUP_MAX))
    count = min(len(members), slots * math.ceil(needed / slots))
    size, extra = divmod(len(members), count)
    groups, start = [], 0
    for number in range(count):
        stop = start + size + (1 if number < extra else 0)
        groups.append(list(members[start:stop]))
        start = stop
    return groups


def _export(cluster: Cluster, datasets: Sequence[Dataset], exports: dict[str, Path], digests: dict[str, str]) -> None:
    """Export each store the sweep still has to read, once; an export of the same data is kept.

    On a cluster, as a task on a worker (the driver may not see the stores); with
    a local runtime, in this process, while the runtime is still starting (its
    workers are this machine's processes: the same files at the same paths).
    """
    pending = []
    for dataset in datasets:
        marker = read_marker(exports[dataset.name])
        if not (marker and marker["store"] == str(dataset.db) and marker["digest"] == digests[dataset.name]):
            pending.append((str(dataset.db), str(exports[dataset.name])))
    where = cluster if cluster.address else Cluster(0)
    for (db, _), _, error in where.map(export_store, pending):
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
