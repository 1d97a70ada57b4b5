"""JSON lines, CSV and Parquet round trips, column mapping, and rows that cannot be read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from safeguards.adapters import guess_format
from safeguards.errors import IngestError
from safeguards.events import FIELDS, format_timestamp
from tests.ingesting import ingest, rejected, rows

T = 1_771_684_200_123_456_789

EVENTS: list[dict[str, Any]] = [
    {"seq": 1, "source": "local", "type": "intent", "event_id": "i1", "account": "acct", "order_id": "o1",
     "group_id": "g1", "leg": "short_call", "role": "leg", "symbol": "SPY 260320C00600000", "side": "sell",
     "qty": 2.0, "limit_px": -0.35, "recv_ts": T},
    {"seq": 2, "source": "local", "type": "submit", "event_id": "s1", "order_id": "o1", "recv_ts": T + 1},
    {"seq": 3, "source": "broker", "type": "partial_fill", "event_id": "x1", "order_id": "o1", "broker_order_id": "B1",
     "last_qty": 1.0, "last_px": 0.35, "cum_qty": 1.0, "leaves_qty": 1.0, "broker_ts": T + 2, "recv_ts": T + 3,
     "broker_seq": 17, "poss_dup": False},
    {"seq": 4, "source": "market", "type": "quote", "event_id": "q1", "symbol": "SPY 260320C00600000",
     "bid_px": 0.3, "bid_qty": 10.0, "ask_px": 0.4, "ask_qty": 12.0, "broker_ts": T + 4, "recv_ts": T + 5},
]


def stored_events(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Events as they went in: canonical fields only, timestamps as nanoseconds, defaults dropped."""
    out = []
    for row in rows(con, "SELECT * REPLACE (epoch_ns(broker_ts) AS broker_ts, epoch_ns(recv_ts) AS recv_ts) "
                         "FROM events ORDER BY seq"):
        event = {k: v for k, v in row.items() if k in FIELDS and v is not None}
        if event.get("account") == "default":
            del event["account"]
        out.append(event)
    return out


def as_table(events: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([{name: event.get(name) for name in FIELDS} for event in events])


def test_jsonl_round_trip_with_rfc3339_and_integer_timestamps(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = []
    for i, event in enumerate(EVENTS):
        if i % 2:
            event = {**event, "recv_ts": format_timestamp(event["recv_ts"])}
        lines.append(json.dumps({**event, "venue": "CBOE"}))
    path.write_text("\n".join(lines) + "\n")
    assert guess_format(path) == "jsonl"
    assert ingest(store, path, "jsonl").loaded == 4
    assert stored_events(store) == EVENTS
    assert store.execute("SELECT DISTINCT extra->>'venue' FROM events").fetchall() == [("CBOE",)]


@pytest.mark.parametrize("end", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("bad_byte_later", [False, True], ids=["utf8", "one-bad-line"])
def test_a_byte_order_mark_before_json_lines_is_not_part_of_the_first_line(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, bad_byte_later: bool, end: str
) -> None:
    """Windows tools start a UTF-8 file with a BOM (and end lines with CRLF); the file must still read as JSON
    lines, all of it, and a line's text is kept without its CR."""
    path = tmp_path / "events.jsonl"
    body = "".join(json.dumps(event) + end for event in EVENTS).encode()
    blank_then_bad = f"  {end}{{\"source\": 1}}{end}".encode() + (b'{"source": "\xff"}\n' if bad_byte_later else b"")
    path.write_bytes(b"\xef\xbb\xbf" + body + blank_then_bad)
    assert guess_format(path) == "jsonl"
    result = ingest(store, path, "jsonl")
    assert (result.loaded, result.rejected) == (4, 1 + bad_byte_later)
    assert stored_events(store) == EVENTS
    assert store.execute("SELECT raw FROM rejected_rows ORDER BY row_number LIMIT 1").fetchone() == ('{"source": 1}',)


def test_csv_round_trip_keeps_unknown_columns_in_extra(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    as_table(EVENTS).with_columns(pl.lit("CBOE").alias("venue")).write_csv(path)
    assert guess_format(path) == "csv"
    assert ingest(store, path, "csv").loaded == 4
    assert stored_events(store) == EVENTS
    assert store.execute("SELECT DISTINCT extra FROM events").fetchall() == [('{"venue":"CBOE"}',)]


@pytest.mark.parametrize("separator", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_csv_with_another_separator_is_told_and_read(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, separator: str
) -> None:
    path = tmp_path / "events.csv"
    as_table(EVENTS).write_csv(path, separator=separator)
    assert guess_format(path) == "csv"
    assert ingest(store, path, "csv").loaded == 4
    assert stored_events(store) == EVENTS


@pytest.mark.parametrize("value", ["''", "'o1'"])
def test_csv_quoting_is_rfc_4180_whatever_the_values_look_like(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, value: str
) -> None:
    """DuckDB's sniffer took ' for the quote when it saw values like these, and read '' as empty (found by
    the format-parity property)."""
    path = tmp_path / "events.csv"
    path.write_text(f"source,type,event_id,order_id,recv_ts\nlocal,submit,s1,{value},2026-02-21T14:30:00Z\n"
                    "#local,submit,s2,o2,2026-02-21T14:30:00Z\n")
    result = ingest(store, path, "csv")
    assert (result.loaded, result.rejected) == (1, 1)
    assert store.execute("SELECT order_id FROM events").fetchall() == [(value,)]
    assert [reason for _, reason in rejected(store)] == [
        "field 'source': unknown source '#local' (expected one of: broker, local, market)"]


def test_a_large_csv_read_in_parallel_keeps_its_row_numbers(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """DuckDB reads a large file on all cores: rows are still numbered in file order, rejected ones too."""
    n, bad = 500_000, [1_000, 123_456, 499_999]
    i = pl.int_range(0, n, eager=True)
    pl.DataFrame({
        "source": pl.repeat("broker", n, eager=True), "type": pl.repeat("new", n, eager=True),
        "event_id": "E" + i.cast(pl.Utf8), "order_id": "O" + i.cast(pl.Utf8),
        "cum_qty": pl.Series(["zero" if row + 1 in bad else "0" for row in range(n)]),
        "leaves_qty": pl.repeat("5", n, eager=True), "broker_ts": pl.repeat("2026-02-21T14:30:00Z", n, eager=True),
        "recv_ts": pl.repeat("2026-02-21T14:30:00.5Z", n, eager=True),
    }).write_csv(tmp_path / "large.csv")
    assert (tmp_path / "large.csv").stat().st_size > 32 << 20  # more than one of DuckDB's 32 MiB CSV buffers
    result = ingest(store, tmp_path / "large.csv", "csv")
    assert (result.loaded, result.rejected) == (n - len(bad), len(bad))
    assert [row for row, _ in rejected(store)] == [f"row {b}" for b in bad]
    assert store.execute("SELECT count(*) FROM events WHERE row_number <> CAST(substr(event_id, 2) AS BIGINT) + 1 "
                         "OR seq <> row_number").fetchone() == (0,)


def test_parquet_round_trip_with_typed_timestamps(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    table = as_table(EVENTS).with_columns(
        pl.from_epoch(pl.col("recv_ts"), time_unit="ns").dt.replace_time_zone("UTC"),  # a typed TIMESTAMP column
    )
    table.write_parquet(path)
    assert guess_format(path) == "parquet"
    assert ingest(store, path, "parquet").loaded == 4
    assert stored_events(store) == EVENTS


def test_column_mapping_reads_a_producers_own_names(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "theirs.parquet"
    as_table(EVENTS).rename({"order_id": "client_order_id", "recv_ts": "received_ns"}).write_parquet(path)
    result = ingest(store, path, "parquet", mapping={"client_order_id": "order_id", "received_ns": "recv_ts"})
    assert result.loaded == 4
    assert stored_events(store) == EVENTS


def test_a_mapping_naming_an_absent_column_or_unknown_field_is_refused(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    as_table(EVENTS).write_csv(path)
    with pytest.raises(IngestError, match="mapped columns clordid are not in the file"):
        ingest(store, path, "csv", mapping={"clordid": "order_id"})
    with pytest.raises(IngestError, match="targets ord are not canonical fields"):
        ingest(store, path, "csv", mapping={"order_id": "ord"})


def test_bad_csv_rows_are_rejected_with_row_or_line_and_reason(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "source,type,event_id,order_id,cum_qty,leaves_qty,broker_ts,recv_ts\n"
        "broker,new,e1,o1,0,5,2026-02-21T14:30:00Z,2026-02-21T14:30:00.1Z\n"
        "broker,new,e2,o1,zero,5,2026-02-21T14:30:00Z,2026-02-21T14:30:00Z\n"
        "broker,new,e3,o1,0,-5,2026-02-21T14:30:00Z,2026-02-21T14:30:00Z\n"
        "broker,new,e4,o1,0,5,2026-02-21T14:30:00Z\n"
        "broker,new,e5,o1,0,5,2026-02-21T14:30:00Z,21/02/2026\n"
    )
    result = ingest(store, path, "csv")
    assert (result.loaded, result.rejected) == (1, 4)
    assert rejected(store) == [
        ("row 2", "field 'cum_qty': expected a number, got zero"),
        ("row 3", "field 'leaves_qty': negative quantity -5.0"),
        ("row 4", "field 'recv_ts': expected an RFC 3339 timestamp with its zone (e.g. 2026-02-21T14:30:00.123Z) or integer nanoseconds, got 21/02/2026"),
        ("line 5", "malformed CSV line: Expected Number of Columns: 8 Found: 7"),
    ]
    assert store.execute("SELECT raw FROM rejected_rows WHERE location = 'line 5'").fetchone() == (
        "broker,new,e4,o1,0,5,2026-02-21T14:30:00Z",)


def test_parquet_bool_where_a_number_belongs_is_rejected(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "bool.parquet"
    table = as_table(EVENTS[1:3])  # a submit (no cum_qty) and a partial fill
    table.with_columns(pl.when(pl.col("type") == "partial_fill").then(True).alias("cum_qty")).write_parquet(path)
    result = ingest(store, path, "parquet")
    assert (result.loaded, result.reasons) == (1, {"field 'cum_qty': expected a number, got bool": 1})


@pytest.mark.parametrize(
    ("first_lines", "format"),
    [
        ('{"source": "broker", "type": "new", "event_id": "e1"}', "jsonl"),
        ('{"event": "new", "execution_id": "x1", "order": {"id": "b-1"}}', "alpaca"),
        ('{"e": "executionReport", "E": 1727320813818, "s": "BNBUSDT", "x": "NEW"}', "binance"),
        ('{"e": "ORDER_TRADE_UPDATE", "E": 1727321322392, "T": 1727321322389, "o": {"x": "NEW"}}', "binance"),
        ('{"result": null, "id": 1}\n{"e": "outboundAccountPosition", "E": 1727320813819}', "binance"),
        ('{"subscriptionId": 0, "event": {"e": "executionReport", "E": 1727320813818}}', "binance"),
        ("{'event': 'login', 'msg': '', 'code': '0', 'connId': '7e28de68'}", "okx"),
        ('{"arg": {"channel": "orders", "instType": "ANY"}, "data": []}', "okx"),
    ],
)
def test_broker_streams_are_told_by_their_first_messages(tmp_path: Path, first_lines: str, format: str) -> None:
    path = tmp_path / "stream.log"
    path.write_text(first_lines + "\n")
    assert guess_format(path) == format


@pytest.mark.parametrize("first_line", ['{"e": "executionReport", "E": "1727320813818"}',  # E is Binance's integer
                                        "{'event': 'login', 'code': '0'}",  # OKX's acks name their connection
                                        "{'arg': 'orders', 'data': []}"])
def test_lines_merely_like_a_broker_stream_are_not_taken_for_it(tmp_path: Path, first_line: str) -> None:
    path = tmp_path / "stream.log"
    path.write_text(first_line + "\n")
    with pytest.raises(IngestError, match="cannot tell the format"):
        guess_format(path)


def test_a_file_of_unknown_format_asks_for_format(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(IngestError, match="pass --format"):
        guess_format(path)


def test_a_line_that_is_not_utf8_is_rejected_alone(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = json.dumps(EVENTS[1]).encode()
    bad = good.replace(b'"o1"', b'"o\xff1"')
    path.write_bytes(good + b"\n" + bad + b"\n")
    result = ingest(store, path, "jsonl")
    assert (result.loaded, result.rejected) == (1, 1)
    assert rejected(store) == [("line 2", f"not valid UTF-8 (byte 0xff at column {bad.index(0xFF) + 1})")]


def test_a_csv_line_that_is_not_utf8_is_rejected_alone(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"source,type,order_id,recv_ts\nlocal,submit,o\xff1,1\nlocal,submit,o2,1\n")
    result = ingest(store, path, "csv")
    assert (result.loaded, result.rejected) == (1, 1)
    assert rejected(store)[0][0] == "line 2" and "not utf-8 encoded" in rejected(store)[0][1]


def test_a_file_that_is_not_parquet_at_all_is_refused_with_its_name(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 and then nothing")
    with pytest.raises(IngestError, match=r"broken.parquet: cannot be read as parquet \(.*magic bytes"):
        ingest(store, path, "parquet")
    assert store.execute("SELECT count(*) FROM ingests").fetchone() == (0,)
