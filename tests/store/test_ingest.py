"""Loading files into the store: once only, all or nothing, nothing dropped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from safeguards.adapters import jsonl
from safeguards.cli import EXIT_INTERRUPTED
from safeguards.sidecar import parse_line
from safeguards.store import ingest as ingest_module
from safeguards.store.database import load_staged as real_load_staged
from safeguards.store.database import open_store
from safeguards.store.ingest import ingest_file
from safeguards.store.reader import read_events
from tests.ingesting import ingest, rejected

GOOD = {"source": "local", "type": "submit", "event_id": "s1", "order_id": "o1", "recv_ts": "2026-02-21T14:30:00Z"}


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_same_bytes_are_ingested_once_even_under_another_name(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    first = write_lines(tmp_path / "a.jsonl", json.dumps(GOOD), "garbage")
    copy = write_lines(tmp_path / "b.jsonl", json.dumps(GOOD), "garbage")
    assert ingest(store, first, "jsonl").loaded == 1
    again = ingest(store, copy, "jsonl")
    assert again.already_ingested and again.ingest_id == 1
    assert store.execute("SELECT count(*) FROM events").fetchone() == (1,)
    assert store.execute("SELECT count(*) FROM rejected_rows").fetchone() == (1,)
    assert store.execute("SELECT count(*) FROM ingests").fetchone() == (1,)


def test_an_ingest_is_recorded_with_digest_counts_and_format(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", json.dumps(GOOD), "{}", "")
    ingest(store, path, "jsonl")
    row = store.execute("SELECT path, length(sha256), format, rows_loaded, rows_rejected, "
                        "finished_at >= started_at FROM ingests").fetchone()
    assert row == (str(path), 64, "jsonl", 1, 1, True)


def test_a_load_failing_halfway_leaves_nothing_behind(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lines(tmp_path / "a.jsonl", json.dumps(GOOD), "garbage")

    def load_then_fail(*args: object, **kwargs: object) -> None:
        real_load_staged(*args, **kwargs)  # events, rejected rows and the ingest record are written...
        raise OSError("disk full")  # ...and then the process fails before the commit

    monkeypatch.setattr(ingest_module, "load_staged", load_then_fail)
    with pytest.raises(OSError):
        ingest_file(store, path, "jsonl", jsonl.stage)
    for table in ("ingests", "events", "rejected_rows"):
        assert store.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
    monkeypatch.undo()
    assert ingest(store, path, "jsonl").loaded == 1  # and the file can still be loaded afterwards


def test_every_rejected_row_keeps_its_line_reason_and_text(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", json.dumps(GOOD), "{oops", json.dumps({**GOOD, "order_id": None}))
    result = ingest(store, path, "jsonl")
    assert (result.loaded, result.rejected) == (1, 2)
    assert rejected(store) == [
        ("line 2", "not valid JSON"),
        ("line 3", "missing field 'order_id' (required for local submit)"),
    ]
    assert store.execute("SELECT raw FROM rejected_rows WHERE location = 'line 2'").fetchone() == ("{oops",)


def test_a_lone_surrogate_is_rejected_naming_its_field_and_nothing_is_lost(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """DuckDB finds no JSON in ``"\\ud800"``; json does, so the reason is the sidecar's, naming the field, not "not valid
    JSON". Every line is counted, and each rejected one kept with its number and text."""
    good = json.dumps(GOOD)
    lines = [
        good,
        good.replace('"s1"', '"\\ud800"'),  # event_id: a JSON escape of half a character
        json.dumps({**GOOD, "event_id": "s2", "note": {"deep": ["\udfff"]}}),  # json.dumps escapes it too
        good.replace('"source"', '"\\ud800"', 1),  # a key
        good.replace('"s1"', '"\\ud83d\\ude00"').replace('"o1"', '"o2"'),  # a pair is a character: loaded
        '{"event_id": "\\ud800", oops}',  # not JSON however read
    ]
    path = write_lines(tmp_path / "a.jsonl", *lines)
    result = ingest(store, path, "jsonl")
    assert (result.loaded, result.rejected) == (2, 4)
    why = ("holds an unpaired surrogate (an escape such as \\ud800 that is half of a character), which is not text: "
           "send the character itself")
    assert rejected(store) == [
        ("line 2", f"field 'event_id' {why}"),
        ("line 3", f"field 'note' {why}"),
        ("line 4", f"field '\\ud800' {why}"),
        ("line 6", "not valid JSON"),
    ]
    assert parse_line(lines[1].encode())[1] == rejected(store)[0][1]  # the sidecar's words for the same line
    kept = store.execute("SELECT row_number, raw FROM rejected_rows ORDER BY row_number").fetchall()
    assert kept == [(2, lines[1]), (3, lines[2]), (4, lines[3]), (6, lines[5])]
    assert store.execute("SELECT rows_loaded, rows_rejected FROM ingests").fetchone() == (2, 4)
    assert store.execute("SELECT event_id FROM events ORDER BY seq").fetchall() == [("s1",), ("\U0001F600",)]


def test_typed_rows_that_fail_are_found_by_row_number_in_their_own_ingest(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    def frame(qty_of_second: float, order_of_third: str | None) -> pl.DataFrame:
        return pl.DataFrame({
            "source": ["broker"] * 3, "type": ["new", "new", "new"], "event_id": ["e1", "e2", "e3"],
            "order_id": ["o1", "o2", order_of_third], "cum_qty": [0.0, qty_of_second, 0.0],
            "leaves_qty": [1.0, 1.0, 1.0], "broker_ts": [1, 2, 3], "recv_ts": [4, 5, 6],
        })

    frame(0.0, "o3").write_parquet(tmp_path / "clean.parquet")
    frame(float("nan"), None).write_parquet(tmp_path / "bad.parquet")
    assert ingest(store, tmp_path / "clean.parquet", "parquet").loaded == 3  # the same row numbers, all loaded
    result = ingest(store, tmp_path / "bad.parquet", "parquet")
    assert (result.loaded, result.rejected) == (1, 2)
    assert rejected(store) == [
        ("row 2", "field 'cum_qty': nan is not a finite number"),
        ("row 3", "missing field 'order_id' (required for broker new)"),
    ]
    raw = store.execute("SELECT raw FROM rejected_rows ORDER BY row_number").fetchall()
    assert json.loads(raw[0][0])["event_id"] == "e2"


def test_a_file_with_some_fields_is_stored_in_its_shape_table_and_read_back_whole(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    before = store.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall()
    broker = tmp_path / "broker.parquet"
    pl.DataFrame({
        "source": ["broker", "broker"], "type": ["new", "fill"], "event_id": ["e1", "e2"],
        "order_id": ["o1", "o1"], "last_qty": [None, 5.0], "last_px": [None, 1.5], "cum_qty": [0.0, 5.0],
        "leaves_qty": [5.0, 0.0], "broker_ts": [1_771_684_200_000_000_001, 1_771_684_200_000_000_002],
        "recv_ts": [1_771_684_200_000_000_003, 1_771_684_200_000_000_004],
    }).write_parquet(broker)
    assert ingest(store, broker, "parquet").loaded == 2
    full = write_lines(tmp_path / "a.jsonl", json.dumps({**GOOD, "account": "acc2", "custom": 1}))
    assert ingest(store, full, "jsonl").loaded == 1
    again = tmp_path / "again.parquet"  # the same shape: the same table
    pl.read_parquet(broker).with_columns(pl.col("event_id") + "x").write_parquet(again)
    assert ingest(store, again, "parquet").loaded == 2

    tables = [t for (t,) in store.execute(
        "SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, 'event_rows') ORDER BY 1").fetchall()]
    assert len(tables) == 2 and "event_rows" in tables
    narrow = next(t for t in tables if t != "event_rows")
    assert store.execute(f"SELECT count(*) FROM {narrow}").fetchone() == (4,)
    assert "account" not in [c for (c, *_) in store.execute(f"DESCRIBE {narrow}").fetchall()]
    assert store.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall() == before  # one relation, every column, the same types
    got = store.execute("SELECT ingest_id, seq, account, event_id, group_id, bid_px, last_qty, extra "
                        "FROM events ORDER BY ingest_id, seq").fetchall()
    assert got == [(1, 1, "default", "e1", None, None, None, None), (1, 2, "default", "e2", None, None, 5.0, None),
                   (2, 1, "acc2", "s1", None, None, None, '{"custom":1}'),
                   (3, 1, "default", "e1x", None, None, None, None), (3, 2, "default", "e2x", None, None, 5.0, None)]
    assert store.execute("SELECT account, order_id, state FROM order_states ORDER BY 1").fetchall() == [
        ("default", "o1", "fill")]
    assert list(read_events(store, [1])) == [
        {"seq": 1, "source": "broker", "type": "new", "event_id": "e1", "account": "default", "order_id": "o1",
         "cum_qty": 0.0, "leaves_qty": 5.0, "broker_ts": 1_771_684_200_000_000_001, "recv_ts": 1_771_684_200_000_000_003},
        {"seq": 2, "source": "broker", "type": "fill", "event_id": "e2", "account": "default", "order_id": "o1",
         "last_qty": 5.0, "last_px": 1.5, "cum_qty": 5.0, "leaves_qty": 0.0, "broker_ts": 1_771_684_200_000_000_002,
         "recv_ts": 1_771_684_200_000_000_004},
    ]


# The child is `safeguards ingest`, except that once everything but COMMIT is done it
# says so and waits: however fast the machine, the kill lands inside the transaction.
_HELD_BEFORE_COMMIT = """
import sys, time
from safeguards.store import ingest
real_load_staged = ingest.load_staged
def load_staged_then_hold(*args, **kwargs):
    result = real_load_staged(*args, **kwargs)
    sys.stderr.write("held before commit\\n")
    sys.stderr.flush()
    time.sleep(600)
    return result
ingest.load_staged = load_staged_then_hold
from safeguards.cli import main
sys.exit(main())
"""


def _stopped_mid_load(db: Path, log: Path, reached: float, stop: signal.Signals) -> str:
    """`safeguards ingest LOG --db DB` in a real process, sent ``stop`` once its bar passes ``reached``, or else
    just before it commits; what it wrote on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HELD_BEFORE_COMMIT, "ingest", str(log), "--db", str(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "SAFEGUARDS_PROGRESS": "1"},
    )
    assert process.stderr is not None
    seen = b""
    while (chunk := os.read(process.stderr.fileno(), 4096)):
        seen += chunk
        shown = [float(p) for p in re.findall(rb"(\d+\.\d)%", seen)]
        if (shown and max(shown) > reached * 100) or b"held before commit" in seen:
            break
    process.send_signal(stop)
    seen += process.stderr.read()
    process.wait()
    expected = -signal.SIGKILL if stop == signal.SIGKILL else EXIT_INTERRUPTED
    assert process.returncode == expected, seen.decode(errors="replace")[-400:]
    return seen.decode(errors="replace")


@pytest.mark.parametrize(
    ("stop", "reached"),
    [(signal.SIGKILL, 0.0), (signal.SIGKILL, 0.5), (signal.SIGKILL, 1.0), (signal.SIGINT, 0.5), (signal.SIGINT, 1.0)],
    ids=["kill-at-start", "kill-half-way", "kill-before-commit", "ctrl-c-half-way", "ctrl-c-before-commit"],
)
def test_an_ingest_stopped_mid_load_leaves_the_store_as_it_was(
    tmp_path: Path, stop: signal.Signals, reached: float
) -> None:
    """SIGKILL or Ctrl-C while DuckDB stores a 1M-row file (as it starts, past half way, or with all but COMMIT
    done): on reopening, the earlier log is whole and the stopped one absent."""
    db = tmp_path / "events.duckdb"
    first = write_lines(tmp_path / "first.jsonl", json.dumps(GOOD), json.dumps({**GOOD, "event_id": "s2"}))
    con = open_store(db)
    assert ingest(con, first, "jsonl").loaded == 2
    con.close()
    n = 1_000_000
    i = pl.int_range(0, n, eager=True)
    pl.DataFrame({"source": pl.repeat("local", n, eager=True), "type": pl.repeat("submit", n, eager=True),
                  "event_id": "e" + i.cast(pl.Utf8), "order_id": "o" + i.cast(pl.Utf8),
                  "recv_ts": pl.repeat(1_771_684_200_000_000_000, n, eager=True) + i}).write_parquet(tmp_path / "big.parquet")

    said = _stopped_mid_load(db, tmp_path / "big.parquet", reached, stop)

    if stop == signal.SIGINT:
        assert "big.parquet: interrupted. A load is all or nothing" in said and "Traceback" not in said
    con = open_store(db)
    assert con.execute("SELECT ingest_id, rows_loaded FROM ingests").fetchall() == [(1, 2)]
    assert con.execute("SELECT ingest_id, count(*) FROM events GROUP BY ALL").fetchall() == [(1, 2)]
    assert con.execute("SELECT count(*) FROM rejected_rows").fetchone() == (0,)
    assert ingest(con, tmp_path / "big.parquet", "parquet").loaded == n  # and it loads whole when run again
    assert con.execute("SELECT count(*) FROM events").fetchone() == (n + 2,)
    con.close()
