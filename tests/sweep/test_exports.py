"""Data where the workers are: a part reads only its own logs, a sweep reads each store once, results stay small.

Each backtest of a part or a sweep runs on a scratch store whose events are a
Parquet export of what it replays; the tests look at the store each backtest is
given, and at the size of everything the tasks hand back to the driver.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from safeguards import plan_partitions, run_partitioned, run_sweep
from safeguards.backtest import run_backtest, run_backtests
from safeguards.sweep import Cluster, partition, run, tasks
from safeguards.sweep.exports import Selection, export_store, scratch_store

from ..backtesting import REFERENCE, SAMPLE
from .test_partition import desks  # noqa: F401 - the three desks' store

#: More than any task's answer needs (a part's summary of its logs; a run's evidence), far less than its events.
SMALL = 32 * 1024


def what_it_holds(db: Path) -> dict[str, Any]:
    """The events a backtest's store holds per log and account, and how many rows of events it stores itself."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {"events": {(log, account): n for log, account, n in con.execute(
                    "SELECT ingest_id, account, count(*) FROM events GROUP BY ALL ORDER BY ALL").fetchall()},
                "stored_rows": con.execute("SELECT count(*) FROM event_rows").fetchall()[0][0],
                "logs": [row[0] for row in con.execute("SELECT ingest_id FROM ingests ORDER BY 1").fetchall()]}
    finally:
        con.close()


def recording(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[dict[str, Any]]:
    """Make ``module``'s backtests note what their store holds before they run."""
    seen: list[dict[str, Any]] = []

    def noting(policy: Any, out: Any, **options: Any) -> Any:
        seen.append(what_it_holds(options["db"]))
        return run_backtest(policy, out, **options)

    monkeypatch.setattr(module, "run_backtest", noting)
    return seen


def recording_groups(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Make the sweep's group tasks note what their store holds, and how many runs they make of it, before they run."""
    seen: list[dict[str, Any]] = []

    def noting(runs: Any, **options: Any) -> Any:
        seen.append({**what_it_holds(options["db"]), "runs": len(runs)})
        return run_backtests(runs, **options)

    monkeypatch.setattr(tasks, "run_backtests", noting)
    return seen


def answers_sized(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pickled size of every task's answer as the driver receives it (what Ray would carry back), per backtest:
    a group's answer is one per variant."""
    sizes: list[int] = []
    mapped = Cluster.map

    def sizing(self: Cluster, function: Any, work: Any, *rest: Any) -> Iterator[Any]:
        for task, result, error in mapped(self, function, work, *rest):
            sizes.extend(len(pickle.dumps(one)) for one in (result if isinstance(result, list) else [result]))
            yield task, result, error

    monkeypatch.setattr(Cluster, "map", sizing)
    return sizes


def test_each_part_reads_only_its_own_logs_and_sends_back_little(desks: Path, tmp_path: Path,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    seen, sizes = recording(monkeypatch, partition), answers_sized(monkeypatch)
    labels = SAMPLE.with_suffix(".labels.jsonl")  # account A's faults: the merge scores them
    merged = run_partitioned(REFERENCE, desks, tmp_path / "parts", parts=4, labels=labels, workers=0)
    plan = merged.plan.parts
    assert [part.logs for part in plan] == [(1,), (2,), (3,)]
    # Part k: its own log's events (its account only) and the next log's first event, its tail; none stored.
    assert [s["events"] for s in seen] == [{(1, "A"): plan[0].events, (2, "B"): 1},
                                           {(2, "B"): plan[1].events, (3, "C"): 1},
                                           {(3, "C"): plan[2].events}]
    assert [s["stored_rows"] for s in seen] == [0, 0, 0]
    assert [s["logs"] for s in seen] == [[1, 2], [2, 3], [3]]
    assert not any((tmp_path / "parts" / "parts" / f"{i:03d}" / tasks.SCRATCH).exists() for i in range(3))
    assert len(sizes) == 4 and max(sizes) < SMALL  # three parts and the merge
    assert (tmp_path / "parts" / "decisions.parquet").stat().st_size > 10 * SMALL
    assert merged.scoring == merged.summary["scoring"]  # the figures; scoring.json's lists stay on disk


def test_a_sweep_exports_each_store_once_and_no_backtest_copies_it(stores: dict[str, Path], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seen, sizes = recording_groups(monkeypatch), answers_sized(monkeypatch)
    exported: list[str] = []

    def exporting(db: str, folder: str, *rest: Any) -> dict[str, Any]:
        exported.append(db)
        return export_store(db, folder, *rest)

    monkeypatch.setattr(run, "export_store", exporting)
    grid, out = ["hedging.max_depth=2,3"], tmp_path / "grid"
    options = dict(db=stores["history"], labels=stores["labels"], baseline=stores["baseline"],
                   baseline_labels=stores["baseline_labels"], workers=0)
    report = run_sweep(REFERENCE, grid, out, **options)  # type: ignore[arg-type]
    assert report.ran == 4 and not report.failed
    assert sorted(exported) == sorted(str(stores[name].resolve()) for name in ("history", "baseline"))
    whole = {name: what_it_holds(stores[name])["events"] for name in ("history", "baseline")}
    # In this process, one task per store: both variants' backtests read its export in one pass.
    assert sorted(map(str, (s["events"] for s in seen))) == sorted(map(str, whole.values()))
    assert [(s["stored_rows"], s["runs"]) for s in seen] == [(0, 2)] * 2
    assert len(sizes) == 2 + 4 and max(sizes) < SMALL  # two exports, four backtests
    assert not (out / run.GROUPS).exists()
    assert not (out / run.EXPORTS).exists()
    for row in report.rows:  # each run names the store itself, as promotion needs
        for name, folder in row.runs.items():
            assert row.evidence[list(row.runs).index(name)]["dataset"]["source"] == str(stores[name].resolve())
    again = run_sweep(REFERENCE, grid, out, **options)  # type: ignore[arg-type]
    assert (again.ran, again.skipped, len(exported)) == (0, 4, 2)  # nothing left to do: no store read again


def test_an_export_is_what_the_store_replays(desks: Path, tmp_path: Path) -> None:  # noqa: F811
    """The whole store through its export backtests as the store itself: the same decisions, alerts and digest."""
    export_store(desks, tmp_path / "export", Selection())
    through = run_backtest(REFERENCE, tmp_path / "through", db=scratch_store(tmp_path / "export", tmp_path / "s.duckdb"))
    direct = run_backtest(REFERENCE, tmp_path / "direct", db=desks)
    assert through.evidence["dataset"]["digest"] == direct.evidence["dataset"]["digest"]
    assert through.evidence["metrics"] == direct.evidence["metrics"]
    for name in ("decisions.parquet", "alerts.parquet"):
        assert pq.read_table(through.out_dir / name).equals(pq.read_table(direct.out_dir / name)), name
    assert plan_partitions(REFERENCE, desks, 1).parts[0].events == through.evidence["metrics"]["events"]
