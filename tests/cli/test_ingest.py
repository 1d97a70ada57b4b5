"""`safeguards ingest`: exit codes, format guessing, the closing summary, re-ingest."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from safeguards.cli import main
from tests.ingesting import real_file

EVENT = {"source": "local", "type": "submit", "event_id": "s1", "order_id": "o1", "group_id": "g1",
         "recv_ts": "2026-02-21T14:30:00Z"}


def test_ingest_guesses_formats_and_summarizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = tmp_path / "a.jsonl"
    lines.write_text(json.dumps(EVENT) + "\n" + json.dumps({**EVENT, "event_id": "s2", "recv_ts": "soon"}) + "\n")
    table = tmp_path / "b.parquet"
    pl.DataFrame([{**EVENT, "event_id": "s3", "order_id": "o2", "recv_ts": "2026-02-21T15:00:00Z"}]).write_parquet(table)
    db = tmp_path / "events.duckdb"

    assert main(["ingest", str(lines), str(table), "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert f"[1/2] {lines} (jsonl): 1 loaded, 1 rejected" in err
    assert f"[2/2] {table} (parquet): 1 loaded, 0 rejected" in err
    assert "rows loaded:   2\n" in out and "rows rejected: 1\n" in out
    assert "1  field 'recv_ts': expected an RFC 3339 timestamp with its zone (e.g. 2026-02-21T14:30:00.123Z) or integer nanoseconds, got soon" in out
    assert "time span:     2026-02-21 14:30:00 .. 2026-02-21 15:00:00 (UTC)" in out
    assert "orders:        2\n" in out and "groups:        1\n" in out
    assert "overlap in time" not in out  # one log after the other

    earlier = tmp_path / "c.jsonl"  # a log of the day before, ingested after: out of order, but no overlap
    earlier.write_text(json.dumps({**EVENT, "event_id": "s4", "order_id": "o3", "recv_ts": "2026-02-20T14:45:00Z"}) + "\n")
    assert main(["ingest", str(earlier), "--db", str(db)]) == 0
    out, _ = capsys.readouterr()
    assert "overlap in time" not in out
    assert "the store's logs were ingested out of time order: a backtest replays them in time order" in out

    venue = tmp_path / "d.jsonl"  # a second venue's log, spanning the first two's times
    venue.write_text("".join(json.dumps({**EVENT, "event_id": f"s{n}", "order_id": "o4", "recv_ts": ts}) + "\n"
                             for n, ts in ((5, "2026-02-21T14:45:00Z"), (6, "2026-02-21T15:30:00Z"))))
    assert main(["ingest", str(venue), "--db", str(db)]) == 0
    out, _ = capsys.readouterr()
    assert "the store's logs overlap in time: a backtest merges them by arrival (recv_ts)" in out

    assert main(["ingest", str(lines), "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert "already ingested" in err and "rows loaded:   0" in out
    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*) FROM events").fetchone() == (5,)


def test_ingest_of_the_real_ice_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = real_file("ice_fix42/FIX.4.2-ICE-12000.body")
    assert main(["ingest", str(path), "--db", str(tmp_path / "ice.duckdb")]) == 0
    out = capsys.readouterr().out
    assert "orders:        637\n" in out
    assert "final broker state per order: canceled 595, fill 34, new 8\n" in out
    assert "orders with broker events but no intent: 637\n" in out
    assert "skipped (FIX session messages): 91\n" in out


def test_column_mapping_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "theirs.csv"
    path.write_text("source,type,event_id,client_order_id,recv_ts\nlocal,submit,s1,o1,2026-02-21T14:30:00Z\n")
    assert main(["ingest", str(path), "--db", str(tmp_path / "e.duckdb"), "--format", "csv",
                 "--map", "client_order_id=order_id"]) == 0
    assert "rows loaded:   1\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl"], "no such file: missing.jsonl"),
        (["notes.txt"], "cannot tell the format from its content; pass --format"),
        (["notes.txt", "--format", "csv", "--map", "nonsense"], "column mapping 'nonsense'"),
        (["logs"], "logs is a folder: name the logs in it (for example logs/*.jsonl)"),
        (["empty.jsonl"], "empty.jsonl: is empty, so its format cannot be told; pass --format"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "logs").mkdir()
    assert main(["ingest", *args, "--db", "e.duckdb"]) == 2
    assert message in capsys.readouterr().err


def test_a_database_from_a_newer_version_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "e.duckdb"
    lines = tmp_path / "a.jsonl"
    lines.write_text(json.dumps(EVENT) + "\n")
    assert main(["ingest", str(lines), "--db", str(db)]) == 0
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_version VALUES (999, 'future', now()::TIMESTAMP)")
    con.close()
    assert main(["ingest", str(lines), "--db", str(db)]) == 2
    assert "written by a newer safeguards (schema version 999" in capsys.readouterr().err


def test_a_progress_bar_can_be_forced_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAFEGUARDS_PROGRESS", "1")
    lines = tmp_path / "a.jsonl"
    lines.write_text(json.dumps(EVENT) + "\n")
    assert main(["ingest", str(lines), "--db", str(tmp_path / "e.duckdb")]) == 0
    err = capsys.readouterr().err
    assert "\r[" + " " * 30 + "]   0.0% a.jsonl (jsonl)" in err
    assert "\r[" + "#" * 30 + "] 100.0% a.jsonl (jsonl)" in err


def test_the_summary_groups_reasons_by_kind_with_a_first_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = tmp_path / "many.jsonl"
    lines.write_text("".join(json.dumps({**EVENT, "recv_ts": f"t{i}", **({"qty": -i} if i > 15 else {})}) + "\n"
                             for i in range(20)))
    assert main(["ingest", str(lines), "--db", str(tmp_path / "e.duckdb")]) == 0
    out = capsys.readouterr().out
    assert "         16  field 'recv_ts': expected an RFC 3339 timestamp" in out  # one kind, not one line per value
    assert "got …\n" in out and "first: many.jsonl: line 1: field 'recv_ts': " in out and "got t0\n" in out
    assert "          4  field 'qty': negative quantity …\n" in out


def test_the_summary_names_the_field_holding_a_lone_surrogate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = tmp_path / "odd.jsonl"
    lines.write_text("".join(json.dumps({**EVENT, "event_id": f"s{i}\ud800"}) + "\n" for i in range(3))
                     + json.dumps({**EVENT, "order_id": "\udc00"}) + "\n" + json.dumps(EVENT) + "\n")
    assert main(["ingest", str(lines), "--db", str(tmp_path / "e.duckdb")]) == 0
    out, err = capsys.readouterr()
    assert f"{lines} (jsonl): 1 loaded, 4 rejected" in err
    why = "holds an unpaired surrogate (an escape such as \\ud800 that is half of a character), which is not text: " \
          "send the character itself"
    assert f"          3  field 'event_id' {why}\n" in out and f"          1  field 'order_id' {why}\n" in out
    assert "not valid JSON" not in out


def test_the_skipped_label_comes_from_the_adapter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    okx = real_file("nexustrader-okx-orders/okx_orders.log")
    assert main(["ingest", str(okx), "--db", str(tmp_path / "okx.duckdb")]) == 0
    out = capsys.readouterr().out
    assert "skipped (OKX acks and other channels' pushes): 3\n" in out and "FIX" not in out


def test_fix_intents_come_from_our_submits_by_default_but_never_for_orders_we_never_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ccg = real_file("nyse_ccg_examples/ccg_examples.pipe.log")
    ice = real_file("ice_fix42/FIX.4.2-ICE-12000.body")
    assert main(["ingest", str(ccg), "--db", str(tmp_path / "none.duckdb"), "--fix-lenient",
                 "--fix-intents", "none"]) == 0
    assert "orders with broker events but no intent: 12\n" in capsys.readouterr().out
    # By default each NewOrderSingle in the log gives its order an intent (two CCG examples lack a symbol)...
    assert main(["ingest", str(ccg), "--db", str(tmp_path / "ccg.duckdb"), "--fix-lenient"]) == 0
    out = capsys.readouterr().out
    assert "note: 13 intents taken from our own order messages" in out
    assert "orders with broker events but no intent: 2\n" in out
    # ...while ICE's store holds only ICE's side: its 637 orders stay without one.
    assert main(["ingest", str(ice), "--db", str(tmp_path / "ice.duckdb")]) == 0
    assert "orders with broker events but no intent: 637\n" in capsys.readouterr().out


def test_an_intent_in_another_log_of_the_store_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = Path(__file__).resolve().parents[2] / "data" / "clean.jsonl"
    events = [json.loads(line) for line in clean.read_text().splitlines()]
    journal, broker = tmp_path / "journal.jsonl", tmp_path / "broker.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in events if e["type"] == "intent"))
    broker.write_text("".join(json.dumps(e) + "\n" for e in events if e["source"] == "broker"))
    orders = len({e["order_id"] for e in events if e["source"] == "broker"})

    assert main(["ingest", str(broker), "--db", str(tmp_path / "alone.duckdb")]) == 0
    assert f"orders with broker events but no intent: {orders:,}\n" in capsys.readouterr().out
    assert main(["ingest", str(journal), "--db", str(tmp_path / "both.duckdb")]) == 0
    capsys.readouterr()
    assert main(["ingest", str(broker), "--db", str(tmp_path / "both.duckdb")]) == 0
    out = capsys.readouterr().out
    assert f"orders:        {orders:,}\n" in out and "no intent" not in out
