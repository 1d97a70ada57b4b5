"""A run is built in windows, possibly by worker processes: neither their number nor their size shows in the output."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from safeguards.simulator import SimOptions, labels_path, open_sink, simulate, write_labels, writer
from safeguards.simulator.delivery import Delivery
from safeguards.simulator.schedule import Planner, Schedule
from safeguards.simulator.window import Cut, Spill, WindowWorker
from safeguards.simulator.writer import format_of

from .conftest import BUSY_RATES

#: Busy rates put re-sends, gaps and orphans on both sides of many window edges.
BUSY = SimOptions(seed=12, groups=900, rates=BUSY_RATES)


def _run(path: Path, options: SimOptions, workers: int, window_groups: int):
    sink = open_sink(path)
    try:
        summary = simulate(options, sink, format_of(path), workers=workers, window_groups=window_groups)
    finally:
        sink.close()
    write_labels(labels_path(path), summary.labels)
    return summary


def _bytes(path: Path) -> tuple[bytes, bytes]:
    return path.read_bytes(), labels_path(path).read_bytes()


@pytest.mark.parametrize("options", [BUSY, SimOptions(seed=1, events=6000)], ids=["busy-groups", "default-events"])
def test_window_size_does_not_change_the_log(tmp_path, options):
    whole = _run(tmp_path / "whole.jsonl", options, workers=0, window_groups=4096)
    small = _run(tmp_path / "small.jsonl", options, workers=0, window_groups=23)
    assert whole.windows == 1 and small.windows > 10
    assert small.rebuilt > 0  # the guessed market was wrong somewhere, and it did not matter
    assert _bytes(tmp_path / "small.jsonl") == _bytes(tmp_path / "whole.jsonl")
    assert (small.events, small.groups, small.last_ns, small.faults) == \
        (whole.events, whole.groups, whole.last_ns, whole.faults)


def test_worker_processes_do_not_change_the_log(tmp_path):
    _run(tmp_path / "local.jsonl", BUSY, workers=0, window_groups=100)
    _run(tmp_path / "pool.jsonl", BUSY, workers=2, window_groups=100)
    assert _bytes(tmp_path / "pool.jsonl") == _bytes(tmp_path / "local.jsonl")


def test_a_run_sized_in_events_ends_inside_a_window_as_it_would_alone(tmp_path):
    windowed = _run(tmp_path / "w.jsonl", SimOptions(seed=4, events=3000), workers=0, window_groups=40)
    _run(tmp_path / "a.jsonl", SimOptions(seed=4, groups=windowed.groups), workers=0, window_groups=4096)
    assert windowed.groups % 40 != 0  # the last group is not a window's last
    assert _bytes(tmp_path / "w.jsonl") == _bytes(tmp_path / "a.jsonl")


def test_parquet_streams_row_groups_with_the_content_of_one_write(tmp_path, monkeypatch):
    whole = _run(tmp_path / "whole.parquet", BUSY, workers=0, window_groups=4096)
    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 1000)
    streamed = _run(tmp_path / "streamed.parquet", BUSY, workers=0, window_groups=50)
    assert pq.ParquetFile(tmp_path / "whole.parquet").metadata.num_row_groups == 1
    assert pq.ParquetFile(tmp_path / "streamed.parquet").metadata.num_row_groups >= streamed.events // 1000 > 10
    frame = pl.read_parquet(tmp_path / "streamed.parquet")
    assert frame.equals(pl.read_parquet(tmp_path / "whole.parquet"), null_equal=True)
    assert frame["seq"].to_list() == list(range(1, whole.events + 1))
    assert pq.read_schema(tmp_path / "streamed.parquet") == pq.read_schema(tmp_path / "whole.parquet")
    assert _bytes(tmp_path / "streamed.parquet")[1] == _bytes(tmp_path / "whole.parquet")[1]  # labels


def test_parquet_holds_what_json_lines_hold(tmp_path):
    _run(tmp_path / "s.jsonl", BUSY, workers=0, window_groups=50)
    _run(tmp_path / "s.parquet", BUSY, workers=0, window_groups=50)
    lines = pl.read_ndjson(tmp_path / "s.jsonl", infer_schema_length=None)
    frame = pl.read_parquet(tmp_path / "s.parquet")
    for column in ("seq", "source", "type", "event_id", "order_id", "broker_seq", "last_px", "cum_qty"):
        assert frame[column].to_list() == lines[column].to_list(), column
    assert frame["recv_ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%9fZ").to_list() == lines["recv_ts"].to_list()


def test_windows_leave_no_reference_cycles():
    """Worker processes run without the cyclic garbage collector (see safeguards.simulator.workers)."""
    for format_name in ("jsonl", "parquet"):
        schedule = Schedule(BUSY.seed, BUSY.rates, BUSY.start_ns)
        planner = Planner(schedule, BUSY.seed, None, 100)
        worker = WindowWorker(format_name, "S12")
        delivery = Delivery(BUSY.seed, BUSY.rates["sequence_gap"])
        gc.collect()
        gc.disable()
        try:
            handover = ({}, Spill())
            for number in range(4):
                plan = planner.next()
                worker.handle(("build", plan))
                report = worker.handle(("settle", number, *handover))[1]
                count = int(np.searchsorted(report.recv, plan.t_hi))
                first_seq, broker_seqs, gaps = delivery.number(report.codes[:count], report.links[:count])
                worker.handle(("render", number, Cut(first_seq, count, None, broker_seqs, gaps)))
                handover = (report.market, report.spill)
                if number:  # the first window also makes a format's per-shape line writers, for good
                    assert gc.collect() == 0, format_name
                else:
                    gc.collect()
        finally:
            gc.enable()
