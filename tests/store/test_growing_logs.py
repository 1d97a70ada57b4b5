"""A log ingested while it is still being written, then again once longer, is one log: nothing stored twice.

Issue 15 item 8. The relation is one of bytes (:mod:`safeguards.store.logs`), so it is
checked with JSON lines and FIX; the checkpoint spacing is made small so that the
files stay small.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from safeguards.cli import main
from safeguards.errors import IngestError
from safeguards.store import logs
from tests.ingesting import ingest

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "clean.jsonl"
POLICY = Path(__file__).resolve().parents[2] / "rules" / "multileg_options.yaml"


@pytest.fixture(autouse=True)
def small_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "CHECKPOINT_BYTES", 4096)


def counts(store: duckdb.DuckDBPyConnection) -> tuple[int, ...]:
    return tuple(store.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[misc]
                 for table in ("ingests", "events", "rejected_rows"))


def test_a_prefix_then_the_whole_loads_every_event_once_and_a_backtest_replays_each_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = SAMPLE.read_bytes()[:400_000]
    whole = whole[: whole.rindex(b"\n") + 1]
    log, db = tmp_path / "live.jsonl", tmp_path / "events.duckdb"
    log.write_bytes(whole[: len(whole) // 3 + 17])  # cut mid-line, as a writer leaves it
    assert main(["ingest", str(log), "--db", str(db)]) == 0
    first = capsys.readouterr().err
    assert "its last line has no newline yet (still being written?) and is no valid event: not loaded" in first
    log.write_bytes(whole)
    assert main(["ingest", str(log), "--db", str(db)]) == 0
    assert "ingest 1 grown since it was loaded (its first " in capsys.readouterr().err
    lines = whole.count(b"\n")
    reference, reference_db = tmp_path / "whole.jsonl", tmp_path / "reference.duckdb"
    reference.write_bytes(whole)
    assert main(["ingest", str(reference), "--db", str(reference_db)]) == 0
    columns = "ingest_id, row_number, seq, source, type, event_id, order_id, recv_ts"
    with duckdb.connect(str(db)) as con, duckdb.connect(str(reference_db)) as ref:
        assert counts(con) == (1, lines, 0)
        assert con.execute(f"SELECT {columns} FROM events ORDER BY row_number").fetchall() == \
            ref.execute(f"SELECT {columns} FROM events ORDER BY row_number").fetchall()
        assert con.execute("SELECT rows_loaded, rows_rejected, sha256 FROM ingests").fetchall() == \
            ref.execute("SELECT rows_loaded, rows_rejected, sha256 FROM ingests").fetchall()
    runs = {}
    for name, store in (("grown", db), ("whole", reference_db)):
        out = tmp_path / f"run-{name}"
        assert main(["backtest", "--policy", str(POLICY), "--db", str(store), "--out", str(out)]) in (0, 1)
        runs[name] = pl.read_parquet(out / "decisions.parquet").select("seq", "event_id", "verdict", "reason")
    assert runs["grown"].height == lines  # every event replayed once
    assert runs["grown"].equals(runs["whole"])


def test_the_same_file_again_while_its_last_line_is_unfinished_changes_nothing(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    log = tmp_path / "live.jsonl"
    log.write_bytes(SAMPLE.read_bytes()[:20_000])
    assert ingest(store, log, "jsonl").held_back
    stored = counts(store)
    assert ingest(store, log, "jsonl").already_ingested
    assert counts(store) == stored and stored[2] == 0  # the half line was never a rejected row


def test_a_file_that_is_the_first_part_of_a_stored_log_is_already_stored(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    data = SAMPLE.read_bytes()[:60_000]
    data = data[: data.rindex(b"\n") + 1]
    whole, older = tmp_path / "whole.jsonl", tmp_path / "older-copy.jsonl"
    whole.write_bytes(data)
    ingest(store, whole, "jsonl")
    stored = counts(store)
    for cut in (4096 * 3, data.index(b"\n", 30_000) + 1):  # at a checkpoint, and between two
        older.write_bytes(data[:cut])
        result = ingest(store, older, "jsonl")
        assert result.already_ingested and result.relation == "part" and result.ingest_id == 1
        assert counts(store) == stored


def test_a_part_whose_log_has_moved_away_cannot_be_told_and_is_refused(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    data = SAMPLE.read_bytes()[:60_000]
    data = data[: data.rindex(b"\n") + 1]
    whole, older = tmp_path / "whole.jsonl", tmp_path / "older-copy.jsonl"
    whole.write_bytes(data)
    ingest(store, whole, "jsonl")
    whole.unlink()
    older.write_bytes(data[: data.index(b"\n", 30_000) + 1])
    with pytest.raises(IngestError, match=r"older-copy.jsonl: its first 28,672 bytes are those of ingest 1 .*cannot "
                                          r"be told; nothing was stored; .*--replace"):
        ingest(store, older, "jsonl")


def test_a_log_that_differs_after_a_shared_start_is_refused(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()[:60_000]
    data = data[: data.rindex(b"\n") + 1]
    first, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(data)
    ingest(store, first, "jsonl")
    stored = counts(store)
    other.write_bytes(data[:30_000] + data[30_000:].replace(b'"broker"', b'"market"', 1))
    with pytest.raises(IngestError, match=r"b.jsonl: its first 28,672 bytes are those of ingest 1 .*then it "
                                          r"differs: it is neither"):
        ingest(store, other, "jsonl")
    assert counts(store) == stored


def test_a_valid_last_line_without_newline_that_then_changes_is_refused(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    data = SAMPLE.read_bytes()[:20_000]
    data = data[: data.rindex(b"\n")]  # a whole event, no newline after it
    log = tmp_path / "live.jsonl"
    log.write_bytes(data)
    assert not ingest(store, log, "jsonl").held_back  # a valid event: loaded
    stored = counts(store)
    log.write_bytes(data + b' \n{"more": 1}\n')  # that line went on
    with pytest.raises(IngestError, match="loaded while its last line had no newline yet, and that line has changed"):
        ingest(store, log, "jsonl")
    assert counts(store) == stored
    log.write_bytes(data + b"\n")  # its newline came: the same line, nothing new
    grown = ingest(store, log, "jsonl")
    assert (grown.relation, grown.loaded, grown.rejected) == ("grown", 0, 0) and counts(store) == stored


def test_a_fix_log_grown_since_loads_only_its_new_messages(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = tmp_path / "session.log"
    assert main(["simulate", "--groups", "30", "--seed", "3", "-o", str(log), "--quiet"]) == 0
    data = log.read_bytes()
    whole_store = tmp_path / "whole.duckdb"
    with duckdb.connect(str(whole_store)) as con:
        pass
    assert main(["ingest", str(log), "--db", str(whole_store)]) == 0
    half = tmp_path / "growing.log"
    half.write_bytes(data[: data.index(b"\n", len(data) // 2) + 1])
    assert ingest(store, half, "fix").relation is None
    half.write_bytes(data)
    grown = ingest(store, half, "fix")
    assert grown.relation == "grown" and grown.ingest_id == 1
    columns = "row_number, type, event_id, order_id, cum_qty, broker_ts"
    with duckdb.connect(str(whole_store)) as whole:
        expected = whole.execute(f"SELECT {columns} FROM events ORDER BY row_number").fetchall()
        expected_rejected = whole.execute("SELECT row_number, reason FROM rejected_rows ORDER BY 1").fetchall()
    assert store.execute(f"SELECT {columns} FROM events ORDER BY row_number").fetchall() == expected
    assert store.execute("SELECT row_number, reason FROM rejected_rows ORDER BY 1").fetchall() == expected_rejected


CSV = ("time,recv_ts,src,kind,event_id,order_id,cum_qty,leaves_qty\n"
       "2026-02-21T14:30:00Z,2026-02-21T14:30:00.1Z,broker,new,e1,o1,0,5\n"
       "2026-02-21T14:30:01Z,2026-02-21T14:30:01.1Z,broker,canceled,e2,o1,0,0\n")


def test_replace_loads_a_log_again_with_the_right_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, db = tmp_path / "broker.csv", tmp_path / "events.duckdb"
    log.write_text(CSV)
    other = tmp_path / "other.jsonl"
    other.write_bytes(SAMPLE.read_bytes()[:5_000].rsplit(b"\n", 1)[0] + b"\n")
    base = ["ingest", "--db", str(db), "--map", "time=broker_ts", "--map", "src=source"]
    assert main([*base, str(log), str(other), "--map", "kind=side"]) == 0  # the wrong column for 'kind'
    capsys.readouterr()
    assert main([*base, str(log), "--map", "kind=type"]) == 0
    assert "already ingested (ingest 1); skipped" in capsys.readouterr().err  # same bytes: the mapping is not heard
    assert main([*base, str(log), "--map", "kind=type", "--replace"]) == 0
    said = capsys.readouterr().err
    assert f"replaced ingest 1 ({log}: 0 loaded, 2 rejected, options " in said and "): 2 loaded, 0 rejected" in said
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT ingest_id, rows_loaded, rows_rejected, options->>'$.mapping.kind' FROM ingests "
                           "ORDER BY 1").fetchall()[0] == (1, 2, 0, "type")
        assert con.execute("SELECT count(*) FROM ingests").fetchone() == (2,)  # the other log is untouched
        assert con.execute("SELECT count(*) FROM rejected_rows WHERE ingest_id = 1").fetchone() == (0,)
        assert con.execute("SELECT type, event_id FROM events WHERE ingest_id = 1 ORDER BY row_number").fetchall() \
            == [("new", "e1"), ("canceled", "e2")]


def test_replace_with_nothing_to_replace_loads_a_new_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log, db = tmp_path / "broker.csv", tmp_path / "events.duckdb"
    log.write_text(CSV)
    assert main(["ingest", str(log), "--db", str(db), "--map", "time=broker_ts", "--map", "src=source", "--map",
                 "kind=type", "--replace"]) == 0
    said = capsys.readouterr().err
    assert "no stored log to replace: loaded as a new one" in said and "2 loaded, 0 rejected" in said


def test_replace_of_a_log_grown_since_replaces_it_whole(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()[:30_000]
    data = data[: data.rindex(b"\n") + 1]
    log = tmp_path / "live.jsonl"
    log.write_bytes(data[:10_000])
    ingest(store, log, "jsonl")
    log.write_bytes(data)
    from safeguards.adapters import AdapterOptions, stager
    from safeguards.store.ingest import ingest_file
    result = ingest_file(store, log, "jsonl", stager("jsonl", AdapterOptions()), replace=True)
    assert result.replaced is not None and result.replaced[0] == 1 and result.ingest_id == 1
    assert counts(store) == (1, data.count(b"\n"), 0)
