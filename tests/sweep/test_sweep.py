"""A sweep on Ray (two local workers) of four variants of the reference policy on the bundled sample.

The report is checked against single backtests of the same variants: the
sweep adds parallelism and bookkeeping, never different figures.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from safeguards import read_sweep, run_sweep
from safeguards.backtest import run_backtest
from safeguards.gates import gate_report
from safeguards.policy import compile_file
from safeguards.promotion import promote, read_evidence
from safeguards.sweep import plan_variants
from safeguards.sweep.tasks import DONE, failure_file

from ..backtesting import CLEAN, REFERENCE, SAMPLE

GRID = ["hedging.max_depth=1,2", "idempotency.window=1s,24h"]


@pytest.fixture(scope="module")
def sweep(ray_runtime: None, stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("sweep") / "grid"
    report = run_sweep(REFERENCE, GRID, out, db=stores["history"], labels=stores["labels"],
                       baseline=stores["baseline"], baseline_labels=stores["baseline_labels"], workers=2)
    return report


def test_the_report_is_what_single_backtests_of_the_variants_say(sweep, tmp_path: Path) -> None:
    assert (sweep.ran, sweep.skipped, len(sweep.rows)) == (8, 0, 4)
    assert sweep.cluster == "local Ray runtime, 2 workers" and not sweep.failed
    variants = {v.key: v for v in plan_variants(REFERENCE, GRID)}
    for row in sweep.rows:
        policy = variants[row.key].policy
        assert row.identity == policy.identity
        history = run_backtest(policy, tmp_path / row.key / "h", events=SAMPLE)
        baseline = run_backtest(policy, tmp_path / row.key / "b", events=CLEAN)
        assert row.recall == history.evidence["metrics"]["recall"]
        assert row.recall_by_kind == history.evidence["metrics"]["recall_by_fault_kind"]
        assert len(row.recall_by_kind) == 14
        assert row.false_alerts == history.evidence["metrics"]["false_alerts"] + baseline.evidence["metrics"]["false_alerts"]
        assert row.clean_alerts == (baseline.evidence["metrics"]["alerts"], baseline.evidence["metrics"]["critical_alerts"])
        assert row.blocks == history.summary["verdicts"].get("block", 0) + baseline.summary["verdicts"].get("block", 0)
        both = gate_report(policy.identity, policy["promotion"]["gates"], [history.evidence, baseline.evidence])
        assert row.status == both.verdict.value
        assert [(g.gate_id, g.passed) for g in row.gates.results] == [(g.gate_id, g.passed) for g in both.results]
        for name, single in (("history", history), ("baseline", baseline)):
            swept = pq.read_table(row.runs[name] / "decisions.parquet").drop_columns(["policy"])
            assert swept.equals(pq.read_table(single.out_dir / "decisions.parquet").drop_columns(["policy"]))


def test_the_best_passing_variant_and_its_promote_command(sweep) -> None:
    by_depth = {row.settings["hedging.max_depth"]: row for row in sweep.rows}
    # A hedge depth of 1 blocks the sample's second-level hedges: critical alerts on clean data, a failed gate.
    assert all(row.status == "FAIL" for row in sweep.rows if row.settings["hedging.max_depth"] == "1")
    best = sweep.best
    assert best is not None and best.passes and best.settings["hedging.max_depth"] == "2"
    assert best in by_depth.values()
    command = sweep.promote_command(best)
    assert command.startswith(f"safeguards promote {sweep.out_dir / best.key / 'policy.yaml'} ")
    assert f"--evidence {sweep.out_dir / best.key / 'history'}" in command
    assert f"--evidence {sweep.out_dir / best.key / 'baseline'}" in command
    assert all(row.pareto for row in sweep.rows if row.recall == max(r.recall for r in sweep.rows)
               and row.false_alerts == min(r.false_alerts for r in sweep.rows))


def test_the_best_variants_evidence_is_promotable(sweep, tmp_path: Path) -> None:
    """Each backtest read a private copy of the store, since removed: its run folder names the store it copied."""
    best = sweep.best
    for folder in best.runs.values():
        assert read_evidence(folder).document["dataset"]["source"] in _stores(sweep)
    entry, _ = promote(compile_file(best.policy_file), [read_evidence(folder) for folder in best.runs.values()],
                       by="tester", approved_by="second", reason="best of the sweep", runtime_root=tmp_path / "runtime")
    assert entry["policy_hash"] == compile_file(best.policy_file).hash


def _stores(sweep) -> list[str]:
    return [dataset["db"] for dataset in sweep.plan["datasets"]]


def test_a_sweep_run_again_does_only_what_is_not_done(sweep, stores: dict[str, Path]) -> None:
    first = sweep.rows[0]
    (first.runs["baseline"] / DONE).unlink()  # as if interrupted before this backtest finished
    again = run_sweep(REFERENCE, GRID, sweep.out_dir, db=stores["history"], labels=stores["labels"],
                      baseline=stores["baseline"], baseline_labels=stores["baseline_labels"], workers=2)
    assert (again.ran, again.skipped) == (1, 7)
    assert [r.status for r in again.rows] == [r.status for r in sweep.rows]
    assert read_sweep(sweep.out_dir).table() == again.table()


def test_a_failed_backtest_is_reported_and_the_rest_go_on(ray_runtime: None, stores: dict[str, Path],
                                                          tmp_path: Path) -> None:
    grid = ["hedging.max_depth=2,3"]
    broken = plan_variants(REFERENCE, grid)[1]
    (tmp_path / "grid" / broken.key).mkdir(parents=True)
    (tmp_path / "grid" / broken.key / "history").write_text("in the way")  # its run folder cannot be made
    report = run_sweep(REFERENCE, grid, tmp_path / "grid", db=stores["history"], labels=stores["labels"], workers=2)
    assert report.ran == 2
    (failed,) = report.failed
    assert failed.key == broken.key and failed.status == "FAILED"
    assert "a file of that name exists" in failed.errors["history"]
    assert [row.status for row in report.rows if row is not failed] == ["NOT ENOUGH EVIDENCE"]
    (tmp_path / "grid" / broken.key / "history").unlink()
    again = run_sweep(REFERENCE, grid, tmp_path / "grid", db=stores["history"], labels=stores["labels"], workers=2)
    assert (again.ran, again.skipped, again.failed) == (1, 1, [])
    assert not failure_file(tmp_path / "grid" / broken.key / "history").exists()


def test_in_process_without_ray_says_what_ray_says(sweep, stores: dict[str, Path], tmp_path: Path) -> None:
    report = run_sweep(REFERENCE, ["hedging.max_depth=2,3"], tmp_path / "grid", db=stores["history"],
                       labels=stores["labels"], baseline=stores["baseline"],
                       baseline_labels=stores["baseline_labels"], workers=0)
    assert report.cluster == "in this process" and report.ran == 4 and not report.failed
    on_ray = {row["variant"]: row for row in sweep.table()}
    (reference,) = [row for row in report.table() if row["variant"] in on_ray]  # depth 2, window 24h: the file itself
    ray_row = {k: v for k, v in on_ray[reference["variant"]].items() if k != "idempotency.window"}
    assert reference == ray_row | {"on the Pareto front": reference["on the Pareto front"]}
    deeper = next(row for row in report.rows if row.settings["hedging.max_depth"] == "3")
    assert deeper.recall_by_kind["hedge_depth"] < 1.0  # the labels are built for a depth of 2
