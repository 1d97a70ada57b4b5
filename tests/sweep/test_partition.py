"""Partitioned backtests: the parts' merged decisions and alerts are the single run's, row for row."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from safeguards import plan_partitions, run_partitioned
from safeguards.backtest import run_backtest
from safeguards.policy import compile_file

from ..backtesting import CLEAN, REFERENCE, SAMPLE, as_account, simulated
from .conftest import make_store

HOUR = 3600 * 10**9


@pytest.fixture(scope="module")
def desks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three logs of three accounts, an hour apart: the sample, the clean day, a third simulated one."""
    folder = tmp_path_factory.mktemp("desks")
    third = simulated(folder, "third", seed=2028, groups=200)
    logs = [as_account(SAMPLE, folder / "a.jsonl", "A"), as_account(CLEAN, folder / "b.jsonl", "B", HOUR),
            as_account(third, folder / "c.jsonl", "C", 2 * HOUR)]
    return make_store(folder / "desks.duckdb", *logs)


def ordered(path: Path, keys: list[str]):
    return pq.read_table(path).drop_columns(["policy"]).sort_by([(k, "ascending") for k in keys])


def test_the_merged_parts_are_the_single_run(ray_runtime: None, desks: Path, tmp_path: Path) -> None:
    plan = plan_partitions(REFERENCE, desks, 4)
    assert [part.logs for part in plan.parts] == [(1,), (2,), (3,)] and not plan.reasons
    merged = run_partitioned(REFERENCE, desks, tmp_path / "parts", parts=4, workers=2)
    single = run_backtest(REFERENCE, tmp_path / "single", db=desks)
    decision_keys = ["ingest_id", "seq", "event_id"]
    assert ordered(merged.out_dir / "decisions.parquet", decision_keys).equals(
        ordered(single.out_dir / "decisions.parquet", decision_keys))
    alert_keys = ["ingest_id", "seq", "kind", "order_id", "group_id", "detail"]
    merged_alerts = ordered(merged.out_dir / "alerts.parquet", alert_keys)
    assert merged_alerts.num_rows > 300
    assert merged_alerts.equals(ordered(single.out_dir / "alerts.parquet", alert_keys))
    assert merged.evidence["metrics"] == single.evidence["metrics"]
    assert merged.evidence["dataset"]["digest"] == single.evidence["dataset"]["digest"]
    for key in ("verdicts", "alert_kinds", "logs"):
        assert merged.summary[key] == single.summary[key], key


def test_policies_that_share_state_across_logs_are_one_part(desks: Path, tmp_path: Path) -> None:
    text = REFERENCE.read_text("utf-8").replace("key: [account, event_id]", "key: [event_id]")
    shared = tmp_path / "p.yaml"
    shared.write_text(text)
    plan = plan_partitions(shared, desks, 4)
    assert len(plan.parts) == 1 and plan.reasons == ["idempotency.key has no account: duplicates are "
                                                     "recognised across accounts"]


def test_logs_of_one_account_or_close_in_time_stay_together(tmp_path: Path) -> None:
    logs = [as_account(SAMPLE, tmp_path / "a.jsonl", "A"), as_account(CLEAN, tmp_path / "b.jsonl", "A", HOUR),
            as_account(CLEAN, tmp_path / "c.jsonl", "C")]  # c overlaps a in time
    store = make_store(tmp_path / "s.duckdb", *logs)
    assert [part.logs for part in plan_partitions(compile_file(REFERENCE), store, 4).parts] == [(1, 3, 2)]


def test_in_process_without_ray(desks: Path, tmp_path: Path) -> None:
    merged = run_partitioned(REFERENCE, desks, tmp_path / "parts", parts=2, workers=0)
    assert [p.logs for p in merged.plan.parts] == [(1,), (2, 3)]  # balanced by events: 20,100 | 10,000 + 4,307
    assert merged.evidence["metrics"]["events"] == pq.ParquetFile(merged.out_dir / "decisions.parquet").metadata.num_rows
    assert merged.evidence["metrics"]["events"] > 30_100
