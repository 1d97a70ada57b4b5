"""What a FIX engine refuses, as located rejected rows (the rest loads), and MsgSeqNum followed as an engine does."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from safeguards.adapters.fix.framing import UnreadableMessage, encode, read_message
from tests.adapters.test_fix import events, msg, write
from tests.ingesting import ingest, rejected, rows

FILL = ("11=A", "150=F", "39=1", "38=10", "32=1", "31=2", "14=1", "151=9")


def report(exec_id: str, *more: str, **kw: object) -> str:
    return msg("8", "11=A", f"17={exec_id}", "150=0", "39=0", "38=10", "14=0", "151=10", *more, **kw)  # type: ignore[arg-type]


def reasons_by_line(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(rejected(con))


def test_a_message_an_engine_would_refuse_is_a_located_row_and_the_rest_loads(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    good = report("E1")
    bad_sum = good[:-4] + ("000" if not good.endswith("000\x01") else "001") + "\x01"
    bad_length = good.replace("\x019=", "\x019=1", 1)
    out_of_order = encode([("35", "8")]).replace("8=FIX.4.4\x019=", "9=5\x018=FIX.4.4\x01X=", 1)
    path = write(
        tmp_path / "framing.log",
        good,
        bad_sum,
        bad_length,
        "8=FIX.4.4\x019=5\x0135=8\x01garbage\x0110=000\x01",
        out_of_order,
        report("E2", "14=2"),  # CumQty twice: which one is meant?
        report("E3", version="FIX.4.2"),  # another BeginString in the same session
        report("E4"),
    )
    result = ingest(store, path, "fix")
    assert result.loaded == 2
    found = reasons_by_line(store)
    assert found["line 2"].startswith("CheckSum (10) is ") and "--fix-lenient" in found["line 2"]
    assert found["line 3"].startswith("BodyLength (9) is ")
    assert found["line 4"].startswith("garbled field 'garbage' (field 4)")
    assert "line 5" in found  # not a whole message
    assert found["line 6"].startswith("tag 14 repeated in one message")
    assert found["line 7"].startswith("BeginString (8) 'FIX.4.2' differs from the session's 'FIX.4.4'")
    assert [e["event_id"] for e in events(store)] == ["US@BRK/E1", "US@BRK/E4"]


def test_lenient_reading_takes_hand_written_checksums_and_says_so(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    sloppy = report("E1").replace("\x019=", "\x019=1", 1)
    result = ingest(store, write(tmp_path / "spec.log", sloppy), "fix", fix_lenient=True)
    assert (result.loaded, result.rejected) == (1, 0)
    assert any(note.startswith("read with --fix-lenient") for note in result.notes)
    assert store.execute("SELECT options->>'fix_lenient' FROM ingests").fetchone() == ("true",)


@pytest.mark.parametrize("delimiter", ["\x01", "|", "^A", ";"])
def test_checksum_and_length_count_each_delimiter_as_one_soh(delimiter: str) -> None:
    text = encode([("35", "0"), ("34", "1"), ("49", "A"), ("56", "B"), ("52", "20260221-14:30:00")],
                  delimiter=delimiter)
    assert read_message(text, delimiter).fields["35"] == "0"
    with pytest.raises(UnreadableMessage, match="CheckSum"):
        read_message(text.replace("49=A", "49=C"), delimiter)


def test_resends_and_gap_fills_recover_holes_and_rejected_reports_open_none(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "seq.log",
        msg("A", seq=1),
        report("E1", seq=2),
        msg("0", seq=3),                                           # heartbeat: skipped, no hole
        report("E2", seq=6),                                       # 4 and 5 not here yet...
        report("E3", "43=Y", "122=20260221-14:29:59.000", seq=4),  # ...4 re-sent later
        msg("4", "123=Y", "36=6", "43=Y", "122=20260221-14:29:59.000", seq=5),  # ...5 gap-filled
        msg("8", "11=A", "17=E4", "150=D", "39=0", seq=7),         # rejected for its content: still received
        report("E5", seq=8),
        report("E6", seq=11),                                      # 9 and 10 never come: a real hole of 2
        report("E7", seq=12, target="DESK2"),                      # another session, its own numbering
    )
    result = ingest(store, path, "fix")
    assert result.rejected == 1
    got = rows(store, "SELECT split_part(event_id, '/', 2) AS id, broker_seq, poss_dup FROM events ORDER BY row_number")
    assert [(e["id"], e["broker_seq"]) for e in got] == [
        ("E1", 2), ("E2", 3), ("E3", None), ("E5", 4), ("E6", 7), ("E7", 8)]  # the re-send takes no number


def test_numbers_an_engine_refuses(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "refused.log",
        report("E1", seq=1),
        report("E2", seq=2),
        report("E3", seq=2),                                              # reused without PossDup
        report("E4", "43=Y", seq=1),                                      # re-send without OrigSendingTime
        report("E5", "43=Y", "122=20260221-14:31:00", seq=1),             # first sent after it was re-sent
        msg("4", "36=1", seq=3),                                          # a reset backwards
        report("E6", seq=3),
    )
    ingest(store, path, "fix")
    found = reasons_by_line(store)
    assert found["line 3"].startswith("MsgSeqNum (34) '2' was already used (next expected: '3')")
    assert found["line 4"].startswith("a re-send (PossDupFlag 43=Y) without OrigSendingTime (122)")
    assert found["line 5"].startswith("OrigSendingTime (122) '20260221-14:31:00' is later than SendingTime (52)")
    assert found["line 6"].startswith("SequenceReset (35=4) NewSeqNo (36) '1' would move the number back from '3'")
    assert [e["event_id"] for e in events(store)] == ["US@BRK/E1", "US@BRK/E2", "US@BRK/E6"]


def test_a_logon_that_resets_starts_the_numbering_over(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "reset.log",
        msg("A", seq=1), report("E1", seq=2), report("E2", seq=3),
        msg("A", "141=Y", seq=1), report("E3", seq=2),
    )
    assert ingest(store, path, "fix").rejected == 0
    assert [e["broker_seq"] for e in events(store)] == [2, 3, 4]


def test_an_application_only_trace_has_no_holes_but_says_why(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(tmp_path / "trace.log", report("E1", seq=5), report("E2", seq=9), report("E3", seq=14))
    result = ingest(store, path, "fix")
    assert [e["broker_seq"] for e in events(store)] == [5, 6, 7]  # heartbeats filtered out are not losses
    assert any(note.startswith("no session messages in the log (an application-only trace): the 7 MsgSeqNums")
               for note in result.notes)


def test_a_gap_fill_reusing_a_number_without_possdup_is_refused(store: duckdb.DuckDBPyConnection,
                                                                 tmp_path: Path) -> None:
    path = write(tmp_path / "gapfill.log", report("E1", seq=1), report("E2", seq=2),
                 msg("4", "123=Y", "36=5", seq=1), report("E3", seq=3))
    ingest(store, path, "fix")
    assert reasons_by_line(store)["line 3"].startswith("MsgSeqNum (34) '1' was already used")
    assert [e["broker_seq"] for e in events(store)] == [1, 2, 3]
