"""FIX log dialects and delimiters, told from the content with no flag; log times and their zones."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from safeguards.adapters import guess_format
from tests.adapters.test_fix import events, msg, write
from tests.ingesting import ingest

SENT = "20260221-14:30:00.000"
NANOS = 1_771_684_200_000_000_000  # SENT


def new_report(delimiter: str = "\x01", version: str = "FIX.4.4", **kw: object) -> str:
    return msg("8", "11=A", "17=E1", "150=0", "39=0", "38=1", "14=0", "151=1", sent=SENT, delimiter=delimiter,
               version=version, **kw)  # type: ignore[arg-type]


def read(store: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[dict], tuple[str, ...]]:
    assert guess_format(path) == "fix"
    result = ingest(store, path, "fix")
    assert result.rejected == 0, store.execute("SELECT reason FROM rejected_rows").fetchall()
    return events(store), result.notes


@pytest.mark.parametrize("delimiter", ["\x01", "|", "^A", ";"])
def test_every_delimiter_is_told_from_the_begin_string(store: duckdb.DuckDBPyConnection, tmp_path: Path,
                                                       delimiter: str) -> None:
    (event,), _ = read(store, write(tmp_path / "d.log", new_report(delimiter)))
    assert event["type"] == "new"
    assert "|17=E1|" in event["extra"]  # kept |-delimited whatever it was written with


@pytest.mark.parametrize("version", ["FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3", "FIX.4.4", "FIXT.1.1"])
def test_every_version(store: duckdb.DuckDBPyConnection, tmp_path: Path, version: str) -> None:
    extra = ("1128=9",) if version == "FIXT.1.1" else ()
    line = msg("8", "11=A", "17=E1", "150=0", "39=0", "38=1", "14=0", "151=1", *extra, version=version)
    (event,), _ = read(store, write(tmp_path / "v.log", line))
    assert event["type"] == "new"


def test_quickfix_go_prefix_is_local_time_with_the_zone_inferred(store: duckdb.DuckDBPyConnection,
                                                                 tmp_path: Path) -> None:
    path = write(tmp_path / "go.log", "2026/02/21 09:30:00.250000 " + new_report())  # New York, UTC-5
    (event,), notes = read(store, path)
    assert event["recv_ts"] == NANOS + 250_000_000
    assert "log times state no zone: read as UTC-05:00 (inferred from SendingTime (52))" in notes
    assert any("QuickFIX/Go log" in note for note in notes)


def test_quickfix_j_screen_log_passes_over_event_lines(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "screen.log",
        "<20260221-14:29:59, FIX.4.4:US->BRK, event> (Initiated logon request)",
        "<20260221-14:30:17, FIX.4.4:US->BRK, incoming> (" + new_report("|") + ")",
    )
    (event,), notes = read(store, path)
    assert event["recv_ts"] == NANOS + 17_000_000_000  # a clock 17 s off is not a zone
    assert "1 log lines without a message (engine events) were passed over" in notes


def test_log4j_tracer_lines_with_semicolons(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    line = "2026/02/21-14:30:00,393 INFO :: TracingIncomingMessage[X]: " + new_report(";")
    (event,), notes = read(store, write(tmp_path / "tracer.log", line))
    assert event["recv_ts"] == NANOS + 393_000_000
    assert any("log-framework lines" in note for note in notes)


def test_python_logging_with_a_stated_zone(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    line = "2026-02-21 15:30:00,500+0100 fix.session INFO received " + new_report()
    (event,), notes = read(store, write(tmp_path / "py.log", line))
    assert event["recv_ts"] == NANOS + 500_000_000
    assert not any("inferred" in note for note in notes)


def test_text_before_the_message_that_is_not_a_time_is_read_with_the_message_time(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write(tmp_path / "untimed.log", "IN  session-7 >> " + new_report(), "IN  session-7 >> " +
                 msg("8", "11=A", "17=E2", "150=4", "39=4", "38=1", "14=0", "151=0", sent=SENT))
    got, notes = read(store, path)
    assert [e["recv_ts"] for e in got] == [NANOS, NANOS]
    assert sum("not a time" in note for note in notes) == 1  # said once, not per line


def test_quickfix_event_log_lines_are_passed_over(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.log", "20260221-14:29:59.000 : Initiated logon request",
                 "20260221-14:30:00.000 : " + new_report())
    (event,), notes = read(store, path)
    assert event["type"] == "new"
    assert "1 log lines without a message (engine events) were passed over" in notes
