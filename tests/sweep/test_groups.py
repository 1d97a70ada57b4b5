"""A group of variants backtested in one pass over a store gives each variant the run folder of its own backtest.

The sweep's tasks read and decode a store's export once per group and feed every
variant's engine the same batches; these tests hold each variant's run folder
(decisions, alerts, summary, scoring, evidence) to a single ``run_backtest`` of
that variant on the same store, and a member's failure to itself.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from safeguards import run_sweep
from safeguards.backtest import BacktestResult, run_backtest, run_backtests
from safeguards.core import Engine
from safeguards.sweep import Cluster, plan_variants
from safeguards.sweep.progress import GroupProgress, read_progress
from safeguards.sweep.run import split
from safeguards.sweep.tasks import DONE, failure_file

from ..backtesting import REFERENCE

GRID = ["hedging.max_depth=1,2", "idempotency.window=1s,24h"]  # four variants


def _json(path: Path, store: tuple[Path, Path] | None = None) -> dict[str, Any]:
    """The file's document; with ``store`` (a store's copy, the store), the copy named as the store wherever it is."""
    text = path.read_text("utf-8")
    if store is not None:
        text = text.replace(json.dumps(str(store[0]))[1:-1], json.dumps(str(store[1]))[1:-1])
    return json.loads(text)


def _without(document: dict[str, Any], *paths: str) -> dict[str, Any]:
    """``document`` without the keys at the dotted ``paths`` (what names a run or its store, not what it found)."""
    document = json.loads(json.dumps(document))
    for path in paths:
        *parents, last = path.split(".")
        node = document
        for key in parents:
            node = node[key]
        node.pop(last, None)
    return document


def assert_same_run(grouped: Path, single: Path, store: tuple[Path, Path] | None = None) -> None:
    """The two run folders hold the same decisions, alerts, scoring, summary and evidence, but for run ids and times.

    ``store``: the single run's store (a copy) and the one the grouped run names.
    """
    for name in ("decisions.parquet", "alerts.parquet"):
        assert pq.read_table(grouped / name).equals(pq.read_table(single / name)), name
    assert _json(grouped / "scoring.json") == _json(single / "scoring.json")
    assert _without(_json(grouped / "summary.json"), "run_id") == _without(_json(single / "summary.json", store), "run_id")
    assert _without(_json(grouped / "metrics.json"), "run") == _without(_json(single / "metrics.json", store), "run")


@pytest.fixture(scope="module")
def grouped(stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """The four variants swept in this process: one task per store, all four variants in one pass over it."""
    out = tmp_path_factory.mktemp("grouped") / "grid"
    return run_sweep(REFERENCE, GRID, out, db=stores["history"], labels=stores["labels"], baseline=stores["baseline"],
                     baseline_labels=stores["baseline_labels"], workers=0)


def test_each_variant_of_a_group_is_its_own_single_backtest(grouped, stores: dict[str, Path], tmp_path: Path) -> None:
    assert (grouped.ran, len(grouped.rows), grouped.failed) == (8, 4, [])
    variants = {v.key: v for v in plan_variants(REFERENCE, GRID)}
    for name, labels in (("history", "labels"), ("baseline", "baseline_labels")):
        copy = tmp_path / f"{name}.duckdb"  # a single backtest records itself in its store: not the shared one
        shutil.copyfile(stores[name], copy)
        for row in grouped.rows:
            single = run_backtest(variants[row.key].policy, tmp_path / row.key / name, db=copy, labels=stores[labels])
            assert_same_run(row.runs[name], single.out_dir, (copy, stores[name].resolve()))
            assert _json(row.runs[name] / "metrics.json")["dataset"]["source"] == str(stores[name].resolve())


def test_a_member_that_fails_leaves_the_rest_of_its_group_done(stores: dict[str, Path], tmp_path: Path) -> None:
    broken = plan_variants(REFERENCE, GRID)[2]
    (tmp_path / "grid" / broken.key).mkdir(parents=True)
    (tmp_path / "grid" / broken.key / "history").write_text("in the way")  # its run folder cannot be made
    report = run_sweep(REFERENCE, GRID, tmp_path / "grid", db=stores["history"], labels=stores["labels"], workers=0)
    (failed,) = report.failed
    assert failed.key == broken.key and "a file of that name exists" in failed.errors["history"]
    assert all((row.runs["history"] / DONE).is_file() for row in report.rows if row is not failed)
    assert failure_file(tmp_path / "grid" / broken.key / "history").is_file()


def test_an_engine_that_fails_mid_replay_is_that_runs_error_alone(stores: dict[str, Path], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    variants = plan_variants(REFERENCE, GRID)
    doomed = variants[1].policy.identity
    real = Engine.decide_columns
    batches: list[int] = []

    def failing(self: Engine, batch: Any, logs: Any) -> Any:
        if self.identity == doomed:
            batches.append(batch.num_rows)
            if len(batches) == 3:
                raise RuntimeError("engine died")
        return real(self, batch, logs)

    monkeypatch.setattr(Engine, "decide_columns", failing)
    copy = tmp_path / "history.duckdb"
    shutil.copyfile(stores["history"], copy)
    runs = [(v.policy, tmp_path / "group" / v.key) for v in variants]
    results = run_backtests(runs, db=copy, labels=stores["labels"], batch_size=100)
    assert [type(r) for r in results] == [BacktestResult, RuntimeError, BacktestResult, BacktestResult]
    assert not (tmp_path / "group" / variants[1].key / "decisions.parquet").exists()
    monkeypatch.setattr(Engine, "decide_columns", real)
    for variant, result in zip(variants, results):
        if isinstance(result, BacktestResult):
            single = run_backtest(variant.policy, tmp_path / "single" / variant.key, db=copy, labels=stores["labels"])
            assert_same_run(result.out_dir, single.out_dir)


def test_groups_keep_every_worker_busy_and_stay_small() -> None:
    assert [len(g) for g in split(list(range(16)), 2)] == [8, 8]
    assert [len(g) for g in split(list(range(20)), 2)] == [5, 5, 5, 5]  # over 8 a group: 4 groups, not 3
    assert [len(g) for g in split(list(range(3)), 4)] == [1, 1, 1]
    assert [len(g) for g in split(list(range(5)), 1, 1)] == [1] * 5
    assert sum(split(list(range(7)), 2), []) == list(range(7))


def test_a_groups_progress_is_read_while_it_runs(tmp_path: Path) -> None:
    scratch = tmp_path / "history-000"
    progress = GroupProgress(scratch, runs=4)
    assert read_progress(scratch) == 0  # before the group's first write
    progress(100, 1000)
    assert read_progress(scratch) == 400  # each variant's events counted
    progress(1000, 1000)  # the last is always written
    assert read_progress(scratch) == 4000
    assert not scratch.exists()  # beside the scratch store's folder, which goes at the group's end


def test_the_sweep_is_told_while_rays_tasks_run(ray_runtime: None) -> None:
    def nap(seconds: float) -> None:  # defined here: Ray ships it to the workers by value
        time.sleep(seconds)

    polls: list[int] = []
    outcomes = list(Cluster(2).map(nap, [(1.0,)], poll=lambda: polls.append(1), every=0.05))
    assert [error for _, _, error in outcomes] == [None] and polls
    assert [e for _, _, e in Cluster(0).map(nap, [(0.0,)], poll=lambda: polls.append(2))] == [None]
    assert 2 not in polls  # in this process a task runs to its end: nothing to poll between


def test_decisions_are_written_a_row_group_of_several_batches_at_a_time(stores: dict[str, Path], tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A row group per few event batches (fewer column chunks to compress) holds the same decisions in the same order."""
    from safeguards.backtest import sink

    whole = run_backtest(REFERENCE, tmp_path / "whole", db=stores["history"], batch_size=1000)
    monkeypatch.setattr(sink, "DECISIONS_ROW_GROUP_ROWS", 2500)  # three batches of 1,000 a row group
    grouped = run_backtest(REFERENCE, tmp_path / "grouped", db=stores["history"], batch_size=1000)
    metadata = pq.ParquetFile(grouped.out_dir / "decisions.parquet").metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert len(sizes) > 2 and set(sizes[:-1]) == {3000} and 0 < sizes[-1] <= 3000
    assert pq.read_table(grouped.out_dir / "decisions.parquet").equals(pq.read_table(whole.out_dir / "decisions.parquet"))
    assert grouped.summary["verdicts"] == whole.summary["verdicts"]
