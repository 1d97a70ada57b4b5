"""The writers: Parquet and JSON lines hold the same events, value for value."""

from __future__ import annotations

import polars as pl
import pytest

from safeguards.events import FIELDS, TS, parse_timestamp
from safeguards.simulator import SimOptions, simulate_to, simulation
from safeguards.simulator.scoring import read_jsonl
from safeguards.simulator.writer import EVENT_SCHEMA, Parquet

from .conftest import BUSY_RATES


def test_parquet_and_json_lines_hold_the_same_events(tmp_path):
    options = SimOptions(seed=5, groups=400, rates=BUSY_RATES)
    simulate_to(tmp_path / "s.jsonl", options)
    simulate_to(tmp_path / "s.parquet", options)
    lines = list(read_jsonl(tmp_path / "s.jsonl"))
    rows = pl.read_parquet(tmp_path / "s.parquet").with_columns(
        pl.col(name).dt.epoch("ns") for name, kind in FIELDS.items() if kind == TS
    ).to_dicts()
    assert len(rows) == len(lines) > 5000
    for line, row in zip(lines, rows):
        expected = {name: parse_timestamp(value) if FIELDS[name] == TS else value for name, value in line.items()}
        assert {name: value for name, value in row.items() if value is not None} == expected


def test_parquet_render_gives_every_canonical_column_typed():
    table = Parquet().render([{"seq": 1, "source": "market", "type": "quote", "recv_ts": 1_771_684_200_000_000_000}])
    assert table.schema == EVENT_SCHEMA
    assert table.column("recv_ts").cast("int64").to_pylist() == [1_771_684_200_000_000_000]
    assert table.column("order_id").to_pylist() == [None]


@pytest.mark.parametrize("name", ["s.jsonl", "s.parquet"])
def test_a_run_stopped_half_way_leaves_no_log_and_the_earlier_one_as_it_was(tmp_path, monkeypatch, name):
    """Written under a .partial name and renamed when whole: a cut log would look like a short complete one."""
    out = tmp_path / name
    simulate_to(out, SimOptions(seed=1, groups=50))
    earlier = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    def ctrl_c(events: int, groups: int) -> None:
        assert (tmp_path / f"s.partial{out.suffix}").exists()  # being written, under its partial name
        raise KeyboardInterrupt

    monkeypatch.setattr(simulation, "PROGRESS_EVERY", 10_000)
    with pytest.raises(KeyboardInterrupt):
        simulate_to(out, SimOptions(seed=2, events=50_000), progress=ctrl_c, workers=0)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == earlier
