"""FIX 4.2 / 4.4 logs: shapes, ExecType mapping, ClOrdID chains, session scoping, what cannot be mapped."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from safeguards.adapters import guess_format
from safeguards.adapters.fix import parse_fix_time
from tests.ingesting import ingest, rejected, rows

SOH = "\x01"


def msg(msg_type: str, *fields: str, sender: str = "BRK", target: str = "US", seq: int = 1,
        sent: str = "20260221-14:30:00.000", version: str = "FIX.4.4", delimiter: str = SOH) -> str:
    """One FIX message; outbound (D, F, G) messages go from US to BRK unless told otherwise."""
    if msg_type in ("D", "F", "G") and sender == "BRK":
        sender, target = "US", "BRK"
    body = [f"35={msg_type}", f"34={seq}", f"49={sender}", f"52={sent}", f"56={target}", *fields]
    return delimiter.join([f"8={version}", "9=0", *body, "10=000"]) + delimiter


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return path


def events(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return rows(con, "SELECT type, order_id, event_id, cum_qty, leaves_qty, last_qty, epoch_ns(broker_ts) AS broker_ts, "
                     "epoch_ns(recv_ts) AS recv_ts, broker_seq, poss_dup, extra FROM events ORDER BY row_number")


def test_fix_time_reads_milli_micro_and_spaced_forms() -> None:
    assert parse_fix_time("20260221-14:30:00") == 1_771_684_200_000_000_000
    assert parse_fix_time("20260221-14:30:00.123") == 1_771_684_200_123_000_000
    assert parse_fix_time("20260221-14:30:00.123456789") == 1_771_684_200_123_456_789
    assert parse_fix_time("20260221- 14:30:00") == 1_771_684_200_000_000_000
    with pytest.raises(ValueError):
        parse_fix_time("2026-02-21 14:30")


def test_a_44_message_log_with_times_maps_trades_by_exec_type_f(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "FIX.4.4-US-BRK.messages.log",
        "20260221-14:30:00.000100 : " + msg("D", "11=A", "55=SPY", "54=1", "38=10", "44=1.5", seq=7),
        "20260221-14:30:00.002 : " + msg("8", "11=A", "37=X1", "17=E1", "150=0", "39=0", "14=0", "151=10",
                                         "60=20260221-14:30:00.001", seq=3),
        "20260221-14:30:01.002 : " + msg("8", "11=A", "37=X1", "17=E2", "150=F", "39=1", "32=4", "31=1.5", "14=4",
                                         "151=6", "60=20260221-14:30:01.001", seq=5, sent="20260221-14:30:01.000"),
        "20260221-14:30:02.002 : " + msg("8", "11=A", "37=X1", "17=E3", "150=F", "39=2", "32=6", "31=1.5", "14=10",
                                         "151=0", "43=Y", seq=6, sent="20260221-14:30:02.000"),
        "20260221-14:30:03.000 : " + msg("0", seq=7),
    )
    assert guess_format(path) == "fix"
    result = ingest(store, path, "fix")
    assert (result.loaded, result.rejected, result.skipped) == (4, 0, 1)
    got = events(store)
    assert [e["type"] for e in got] == ["submit", "new", "partial_fill", "fill"]
    assert {e["order_id"] for e in got} == {"US@BRK/A"}
    assert got[1]["event_id"] == "US@BRK/E1"
    assert got[0]["recv_ts"] == 1_771_684_200_000_100_000  # the log line's time, not SendingTime
    assert got[1]["broker_ts"] == 1_771_684_200_001_000_000  # TransactTime
    assert got[3]["broker_ts"] == 1_771_684_202_000_000_000  # no TransactTime: SendingTime
    assert [e["broker_seq"] for e in got] == [None, 3, 5, 6]  # only on the broker's messages; 34=4 is missing
    assert got[3]["poss_dup"] is True
    assert '"fix_seq":5,"fix_prev_seq":3' in got[2]["extra"]  # the raw MsgSeqNums stay in extra


def test_a_42_body_store_back_to_back_with_exec_type_1_and_2(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "FIX.4.2-BRK-US.body"
    common = ("11=A", "17={}", "20=0", "38=10")
    path.write_bytes("".join([
        msg("A", seq=1, version="FIX.4.2"),
        msg("8", *[f.format("E1") for f in common], "150=0", "39=0", "14=0", "151=10", seq=2, version="FIX.4.2"),
        msg("8", *[f.format("E2") for f in common], "150=1", "39=1", "32=3", "31=2", "14=3", "151=7", seq=3,
            version="FIX.4.2"),
        msg("8", *[f.format("E3") for f in common], "150=2", "39=2", "32=7", "31=2", "14=10", "151=0", seq=4,
            version="FIX.4.2"),
        msg("5", seq=5, version="FIX.4.2"),
    ]).encode())
    result = ingest(store, path, "fix")
    assert (result.loaded, result.skipped) == (3, 2)
    got = events(store)
    assert [(e["type"], e["cum_qty"], e["leaves_qty"]) for e in got] == [
        ("new", 0, 10), ("partial_fill", 3, 7), ("fill", 10, 0)]
    assert '"recv_ts_from":"SendingTime"' in got[0]["extra"]


def test_cancel_and_replace_chains_reach_the_original_order(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "chain.log",
        msg("D", "11=A", "55=SPY", "54=2", "38=5", seq=1, delimiter="|"),
        msg("8", "11=A", "17=E1", "150=0", "39=0", "14=0", "151=5", seq=1, delimiter="|"),
        msg("G", "11=B", "41=A", "38=4", seq=2, delimiter="|"),
        msg("8", "11=B", "41=A", "17=E2", "150=5", "39=0", "38=4", "14=0", "151=4", seq=2, delimiter="|"),
        msg("F", "11=C", "41=B", seq=3, delimiter="|"),
        msg("9", "11=C", "41=B", "39=0", "434=1", "58=too late", seq=3, delimiter="|"),
        msg("F", "11=D", "41=B", seq=4, delimiter="|"),
        msg("8", "11=D", "41=B", "17=E3", "150=6", "39=6", "14=0", "151=4", seq=4, delimiter="|"),
        msg("8", "11=D", "41=B", "17=E4", "150=4", "39=4", "14=0", "151=0", seq=5, delimiter="|"),
    )
    ingest(store, path, "fix")
    assert rejected(store) == [("line 3", "OrderCancelReplaceRequest (35=G) has no canonical local event type "
                                          "(its new ClOrdID is linked to the order it replaces)")]
    got = events(store)
    assert [e["type"] for e in got] == [
        "submit", "new", "replaced", "cancel_request", "cancel_rejected", "cancel_request", "pending_cancel", "canceled"]
    assert {e["order_id"] for e in got} == {"US@BRK/A"}
    assert '"fix_clordid":"D"' in got[-1]["extra"]


def test_sessions_that_reuse_a_clordid_never_merge(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "two.log",
        msg("8", "11=1", "17=E1", "150=0", "39=0", "14=0", "151=1", target="DESK1"),
        msg("8", "11=1", "17=E1", "150=0", "39=0", "14=0", "151=1", target="DESK2"),
    )
    ingest(store, path, "fix")
    assert [(e["order_id"], e["event_id"]) for e in events(store)] == [
        ("DESK1@BRK/1", "DESK1@BRK/E1"), ("DESK2@BRK/1", "DESK2@BRK/E1")]


def test_a_session_reject_of_our_order_is_a_broker_rejection(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "reject.log",
        msg("D", "11=A", "55=SPY", "54=1", "38=1", seq=13),
        msg("3", "45=13", "58=Required tag missing", seq=19),
        msg("3", "45=99", seq=20),  # refers to nothing we sent: a plain session message
    )
    result = ingest(store, path, "fix")
    assert (result.loaded, result.skipped) == (2, 1)
    assert [(e["type"], e["order_id"]) for e in events(store)] == [("submit", "US@BRK/A"), ("rejected", "US@BRK/A")]


def test_what_has_no_canonical_type_is_rejected_with_the_reason(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "odd.log",
        "# a comment line",
        msg("8", "11=A", "17=E1", "20=1", "150=2", "39=2", "32=1", "14=1", "151=0", version="FIX.4.2"),
        msg("8", "11=A", "17=E2", "150=3", "39=3", "14=1", "151=0"),
        msg("j", "45=2", "58=Unsupported Message Type"),
        "8=FIX.4.2\x019=5\x01garbage\x01",
        "not fix at all",
    )
    ingest(store, path, "fix")
    assert rejected(store) == [
        ("line 2", "trade bust (ExecTransType 20=1) has no canonical event type: the fill it cancels (ExecRefID 19) "
                   "still counts in the order's cum_qty"),
        ("line 3", "ExecutionReport with ExecType 150=3 (done for day) has no canonical event type"),
        ("line 4", "FIX message BusinessMessageReject (35=j) has no canonical event type"),
        ("line 5", "malformed FIX field 'garbage' (expected tag=value)"),
        ("line 6", "no FIX message on this line (expected 8=FIX...)"),
    ]


def test_a_fill_reporting_cum_qty_zero_gets_it_derived(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(tmp_path / "q.log", msg("8", "11=A", "17=E1", "150=2", "39=2", "38=100", "32=100", "31=9.5", "14=0", "151=0"))
    ingest(store, path, "fix")
    (event,) = events(store)
    assert event["cum_qty"] == 100 and '"cum_qty_derived":true' in event["extra"]
    assert '"cum_qty_reported":0' in event["extra"]  # the reported value is kept


def test_intents_from_submits_never_hide_an_order_we_did_not_send(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "intents.log",
        msg("D", "11=A", "55=SPY", "54=1", "38=2", seq=1),
        msg("8", "11=A", "17=E1", "150=0", "39=0", "14=0", "151=2", seq=1),
        msg("8", "11=Z", "17=E2", "150=0", "39=0", "14=0", "151=1", seq=2),  # no NewOrderSingle in the log
    )
    ingest(store, path, "fix", fix_intents="from-submits")
    got = rows(store, "SELECT type, order_id, group_id, role, qty FROM events ORDER BY row_number")
    assert got == [
        {"type": "intent", "order_id": "US@BRK/A", "group_id": "US@BRK/A", "role": "leg", "qty": 2.0},
        {"type": "submit", "order_id": "US@BRK/A", "group_id": None, "role": None, "qty": 2.0},
        {"type": "new", "order_id": "US@BRK/A", "group_id": None, "role": None, "qty": None},
        {"type": "new", "order_id": "US@BRK/Z", "group_id": None, "role": None, "qty": None},
    ]


def test_broker_seq_has_holes_only_where_messages_are_missing(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    er = lambda exec_id, seq, *more, **kw: msg(  # noqa: E731
        "8", "11=A", f"17={exec_id}", "150=0", "39=0", "14=0", "151=1", *more, seq=seq, **kw)
    path = write(
        tmp_path / "seq.log",
        msg("A", seq=1),
        er("E1", 2),
        msg("0", seq=3),                                   # heartbeat: skipped, no hole
        er("E2", 4),
        er("E3", 5, target="DESK2"),                       # another session, its own numbering
        msg("4", "123=Y", "36=9", seq=5),                  # gap fill: 5 to 8 were session messages
        er("E4", 9),
        er("E5", 12),                                      # 10 and 11 are lost: a hole of 2
        msg("4", "123=Y", "36=12", "43=Y", seq=10),        # their re-send (a gap fill) does not move back
        er("E6", 13),
        msg("j", "45=1", seq=14),                          # rejected on ingest: no hole either
        er("E7", 15),
        msg("A", "141=Y", seq=1),                          # the session restarts its numbering
        er("E8", 2),
    )
    result = ingest(store, path, "fix")
    assert (result.loaded, result.rejected) == (8, 1)
    got = rows(store, "SELECT event_id, broker_seq, (extra->>'fix_seq')::INT AS raw, "
                      "(extra->>'fix_prev_seq')::INT AS prev FROM events ORDER BY row_number")
    assert [(e["event_id"].split("/")[1], e["broker_seq"]) for e in got] == [
        ("E1", 2), ("E2", 3), ("E3", 4), ("E4", 5), ("E5", 8), ("E6", 9), ("E7", 10), ("E8", 11)]
    # extra keeps the raw numbers: MsgSeqNum, and the one the session had reached before it
    assert [(e["raw"], e["prev"]) for e in got][3:6] == [(9, 8), (12, 9), (13, 12)]


def test_a_replace_reaches_the_original_order_through_its_reports(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "replace.log",
        msg("D", "11=A", "55=SPY", "54=1", "38=10", "44=1.5", seq=1, version="FIX.4.2"),
        msg("8", "11=A", "17=E1", "20=0", "150=0", "39=0", "38=10", "14=0", "151=10", seq=1, version="FIX.4.2"),
        msg("G", "11=B", "41=A", "38=8", "44=1.4", seq=2, version="FIX.4.2"),
        msg("8", "11=B", "41=A", "17=E2", "20=0", "150=E", "39=E", "38=10", "14=0", "151=10", seq=2,
            version="FIX.4.2"),
        msg("8", "11=B", "41=A", "17=E3", "20=0", "150=5", "39=5", "38=8", "44=1.4", "14=0", "151=8", seq=3,
            version="FIX.4.2"),
        msg("8", "11=B", "17=E4", "20=0", "150=2", "39=2", "38=8", "32=8", "31=1.4", "14=8", "151=0", seq=4,
            version="FIX.4.2"),  # the fill names only the new ClOrdID
        msg("G", "11=C", "41=B", "38=6", seq=3, version="FIX.4.2"),
        msg("9", "11=C", "41=B", "39=2", "434=2", "58=too late to replace", seq=5, version="FIX.4.2"),
    )
    result = ingest(store, path, "fix")
    assert result.reasons == {"OrderCancelReplaceRequest (35=G) has no canonical local event type "
                              "(its new ClOrdID is linked to the order it replaces)": 2}
    got = rows(store, "SELECT type, order_id, qty, extra->>'fix_clordid' AS sent FROM events ORDER BY row_number")
    assert [(e["type"], e["sent"]) for e in got] == [
        ("submit", "A"), ("new", "A"), ("pending_replace", "B"), ("replaced", "B"), ("fill", "B"),
        ("cancel_rejected", "C")]
    assert {e["order_id"] for e in got} == {"US@BRK/A"}
    assert got[3]["qty"] == 8  # the replaced report carries the new OrderQty


def test_44_trade_busts_and_corrections_are_rejected_with_what_they_leave_wrong(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "amend.log",
        msg("8", "11=A", "17=E1", "150=F", "39=2", "32=1", "31=2", "14=1", "151=0"),
        msg("8", "11=A", "17=E2", "19=E1", "150=H", "39=0", "32=0", "14=0", "151=1"),
        msg("8", "11=A", "17=E3", "19=E1", "150=G", "39=2", "32=1", "31=1.9", "14=1", "151=0"),
    )
    ingest(store, path, "fix")
    assert rejected(store) == [
        ("line 2", "trade bust (ExecType 150=H) has no canonical event type: the fill it cancels (ExecRefID 19) "
                   "still counts in the order's cum_qty"),
        ("line 3", "trade correction (ExecType 150=G) has no canonical event type: the fill it corrects "
                   "(ExecRefID 19) keeps its first quantity and price"),
    ]
