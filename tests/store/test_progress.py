"""LoadProgress: DuckDB's progress through a running statement, polled from a thread, as a never-falling share."""

from __future__ import annotations

import duckdb
import pytest

from safeguards.store.progress import LoadProgress

#: Long enough on any machine for a poll every 5 ms to land inside it several times.
SLOW_QUERY = "SELECT count(*) FROM range(400000000) AS r(i) WHERE hash(i) % 7 = 0"


def _settings(con: duckdb.DuckDBPyConnection) -> list:
    return [con.execute("SELECT current_setting(?)", [name]).fetchone()[0]
            for name in ("enable_progress_bar", "enable_progress_bar_print", "progress_bar_time")]


def test_a_running_statement_is_reported_as_it_goes_within_its_span():
    con = duckdb.connect()
    before = _settings(con)
    seen: list[float] = []
    with LoadProgress(con, seen.append, stage_share=0.25, every=0.005) as progress:
        progress.storing()
        con.execute(SLOW_QUERY)
    assert seen[0] == 0.25
    assert any(0.25 < share < 1.0 for share in seen), seen
    assert seen == sorted(seen) and len(set(seen)) == len(seen) and seen[-1] <= 1.0
    assert _settings(con) == before


def test_an_adapters_own_progress_fills_the_staging_share_and_never_falls_back():
    seen: list[float] = []
    progress = LoadProgress(duckdb.connect(), seen.append, stage_share=0.9)
    for fraction in (0.1, 0.5, 0.4, 1.0):
        progress.staged(fraction)
    progress.storing()
    assert seen == pytest.approx([0.09, 0.45, 0.9])


def test_an_adapter_staging_in_steps_gets_each_statement_its_part():
    con = duckdb.connect()
    seen: list[float] = []
    with LoadProgress(con, seen.append, stage_share=0.5, every=0.005) as progress:
        progress.staging_step(0.0, 0.5)
        con.execute(SLOW_QUERY)
        progress.staging_step(0.5, 1.0)
        progress.storing()
    assert seen[0] < 0.25 and any(0.0 < share < 0.25 for share in seen), seen
    assert 0.25 in seen and 0.5 in seen  # each step starts where it says, and staging ends at 0.5
    assert seen == sorted(seen) and seen[-1] == 0.5
