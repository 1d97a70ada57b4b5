"""FIX logs: ExecType mapping, ClOrdID chains, session scoping, replaces, multileg orders, what cannot be mapped.

Dialects and delimiters: tests/adapters/test_fix_dialects.py; framing and sequence
checks: tests/adapters/test_fix_session.py; real logs: tests/adapters/test_fix_real.py.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from safeguards.adapters import guess_format
from safeguards.adapters.fix import encode, parse_fix_time
from tests.ingesting import ingest, rejected, rows

SOH = "\x01"
OURS = ("D", "F", "G", "AB", "AC")
_NEXT: defaultdict[str, int] = defaultdict(lambda: 1)


@pytest.fixture(autouse=True)
def _fresh_numbering() -> None:
    _NEXT.clear()


def msg(msg_type: str, *fields: str, sender: str = "BRK", target: str = "US", seq: int | None = None,
        sent: str = "20260221-14:30:00.000", version: str = "FIX.4.4", delimiter: str = SOH) -> str:
    """One well-framed FIX message; ours (D, F, G, AB, AC) go from US to BRK unless told otherwise.

    Without ``seq``, each sender's messages are numbered 1, 2, 3... (per test).
    """
    if msg_type in OURS and sender == "BRK":
        sender, target = "US", "BRK"
    if seq is None:
        seq = _NEXT[sender]
    _NEXT[sender] = seq + 1
    head = [("35", msg_type), ("34", str(seq)), ("49", sender), ("52", sent), ("56", target)]
    return encode([*head, *(tuple(f.split("=", 1)) for f in fields)], version, delimiter)


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
                                         "151=0", seq=6, sent="20260221-14:30:02.000"),
        "20260221-14:30:03.000 : " + msg("0", seq=7),
    )
    assert guess_format(path) == "fix"
    result = ingest(store, path, "fix", fix_intents="none")
    assert (result.loaded, result.rejected, result.skipped) == (4, 0, 1)
    got = events(store)
    assert [e["type"] for e in got] == ["submit", "new", "partial_fill", "fill"]
    assert {e["order_id"] for e in got} == {"US@BRK/A"}
    assert got[1]["event_id"] == "US@BRK/E1"
    assert got[0]["event_id"] == "US@BRK/D:A@0"  # derived ids carry the logon epoch (no Logon yet: 0)
    assert got[0]["recv_ts"] == 1_771_684_200_000_100_000  # the log line's time, not SendingTime
    assert got[1]["broker_ts"] == 1_771_684_200_001_000_000  # TransactTime
    assert got[3]["broker_ts"] == 1_771_684_202_000_000_000  # no TransactTime: SendingTime
    assert [e["broker_seq"] for e in got] == [None, 3, 5, 6]  # only on the broker's messages; 34=4 is missing
    assert '"fix_seq":5,"fix_prev_seq":3' in got[2]["extra"]  # the raw MsgSeqNums stay in extra


def test_a_42_body_store_back_to_back_with_exec_type_1_and_2(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "FIX.4.2-BRK-US.body"
    common = ("11=A", "17={}", "20=0", "38=10")
    path.write_bytes("".join([
        msg("A", version="FIX.4.2"),
        msg("8", *[f.format("E1") for f in common], "150=0", "39=0", "14=0", "151=10", version="FIX.4.2"),
        msg("8", *[f.format("E2") for f in common], "150=1", "39=1", "32=3", "31=2", "14=3", "151=7",
            version="FIX.4.2"),
        msg("8", *[f.format("E3") for f in common], "150=2", "39=2", "32=7", "31=2", "14=10", "151=0",
            version="FIX.4.2"),
        msg("5", version="FIX.4.2"),
    ]).encode())
    result = ingest(store, path, "fix")
    assert (result.loaded, result.skipped) == (3, 2)
    assert result.skipped_what == "FIX session messages"
    got = events(store)
    assert [(e["type"], e["cum_qty"], e["leaves_qty"]) for e in got] == [
        ("new", 0, 10), ("partial_fill", 3, 7), ("fill", 10, 0)]
    assert '"recv_ts_from":"SendingTime"' in got[0]["extra"]


def test_cancel_and_replace_chains_reach_the_original_order(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "chain.log",
        msg("D", "11=A", "55=SPY", "54=2", "38=5", delimiter="|"),
        msg("8", "11=A", "17=E1", "150=0", "39=0", "14=0", "151=5", delimiter="|"),
        msg("G", "11=B", "41=A", "38=4", delimiter="|"),
        msg("8", "11=B", "41=A", "17=E2", "150=5", "39=0", "38=4", "14=0", "151=4", delimiter="|"),
        msg("F", "11=C", "41=B", delimiter="|"),
        msg("9", "11=C", "41=B", "39=0", "434=1", "58=too late", delimiter="|"),
        msg("F", "11=D", "41=B", delimiter="|"),
        msg("8", "11=D", "41=B", "17=E3", "150=6", "39=6", "14=0", "151=4", delimiter="|"),
        msg("8", "11=D", "41=B", "17=E4", "150=4", "39=4", "14=0", "151=0", delimiter="|"),
    )
    ingest(store, path, "fix", fix_intents="none")
    assert rejected(store) == []
    got = events(store)
    assert [e["type"] for e in got] == [
        "submit", "new", "replace_request", "replaced", "cancel_request", "cancel_rejected", "cancel_request",
        "pending_cancel", "canceled"]
    assert {e["order_id"] for e in got} == {"US@BRK/A"}
    assert '"fix_clordid":"D"' in got[-1]["extra"]


def test_a_replace_request_carries_its_new_quantity_and_reaches_the_original_order(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "replace.log",
        msg("D", "11=A", "55=SPY", "54=1", "38=10", "44=1.5", version="FIX.4.2"),
        msg("8", "11=A", "17=E1", "20=0", "150=0", "39=0", "38=10", "14=0", "151=10", version="FIX.4.2"),
        msg("G", "11=B", "41=A", "38=8", "44=1.4", version="FIX.4.2"),
        msg("8", "11=B", "41=A", "17=E2", "20=0", "150=E", "39=E", "38=10", "14=0", "151=10", version="FIX.4.2"),
        msg("8", "11=B", "41=A", "17=E3", "20=0", "150=5", "39=5", "38=8", "44=1.4", "14=0", "151=8",
            version="FIX.4.2"),
        msg("8", "11=B", "17=E4", "20=0", "150=2", "39=2", "38=8", "32=8", "31=1.4", "14=8", "151=0",
            version="FIX.4.2"),  # the fill names only the new ClOrdID
        msg("G", "11=C", "41=B", version="FIX.4.2"),  # no OrderQty: a replace request must say it
        msg("9", "11=C", "41=B", "39=2", "434=2", "58=too late to replace", version="FIX.4.2"),
    )
    result = ingest(store, path, "fix")
    assert result.reasons == {"missing field 'qty' (required for local replace_request)": 1}
    got = rows(store, "SELECT type, order_id, qty, extra->>'fix_clordid' AS sent FROM events "
                      "WHERE type <> 'intent' ORDER BY row_number")
    assert [(e["type"], e["sent"]) for e in got] == [
        ("submit", "A"), ("new", "A"), ("replace_request", "B"), ("pending_replace", "B"), ("replaced", "B"),
        ("fill", "B"), ("cancel_rejected", "C")]
    assert {e["order_id"] for e in got} == {"US@BRK/A"}
    assert got[2]["qty"] == 8 and got[4]["qty"] == 8


def test_done_for_day_is_its_own_broker_type(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "dfd.log",
        msg("8", "11=A", "17=E1", "150=0", "39=0", "38=5", "14=0", "151=5"),
        msg("8", "11=A", "17=E2", "150=3", "39=3", "38=5", "14=0", "151=0"),
        msg("8", "11=B", "17=E3", "39=3", "38=5", "14=0", "151=0", version="FIX.4.0", target="DESK2"),  # no 150
    )
    ingest(store, path, "fix")
    assert [e["type"] for e in events(store)] == ["new", "done_for_day", "done_for_day"]


def test_reports_keyed_only_by_order_id_are_read(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "orderid.log",
        msg("8", "11=A", "37=X1", "17=E1", "150=0", "39=0", "38=5", "14=0", "151=5"),
        msg("8", "37=X1", "17=E2", "150=F", "39=2", "38=5", "32=5", "31=1", "14=5", "151=0"),  # the same order
        msg("8", "37=X9", "17=E3", "150=F", "39=2", "38=1", "32=1", "31=1", "14=1", "151=0"),  # one never named
    )
    ingest(store, path, "fix")
    assert [(e["type"], e["order_id"]) for e in events(store)] == [
        ("new", "US@BRK/A"), ("fill", "US@BRK/A"), ("fill", "US@BRK/37=X9")]


def test_sessions_that_reuse_a_clordid_never_merge(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "two.log",
        msg("8", "11=1", "17=E1", "150=0", "39=0", "14=0", "151=1", target="DESK1", seq=1),
        msg("8", "11=1", "17=E1", "150=0", "39=0", "14=0", "151=1", target="DESK2", seq=1),
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
    result = ingest(store, path, "fix", fix_intents="none")
    assert (result.loaded, result.skipped) == (2, 1)
    assert [(e["type"], e["order_id"], e["event_id"]) for e in events(store)] == [
        ("submit", "US@BRK/A", "US@BRK/D:A@0"), ("rejected", "US@BRK/A", "US@BRK/3:19@0")]


def test_session_reject_ids_stay_unique_across_logons(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    def logon_and_reject() -> list[str]:
        return [msg("A", "98=0", "108=30", "141=Y", sender="US", target="BRK", seq=1),
                msg("A", "98=0", "108=30", "141=Y", seq=1),
                msg("D", "11=A", "55=SPY", "54=1", "38=1", seq=2),
                msg("3", "45=2", "58=Required tag missing", seq=2)]

    path = write(tmp_path / "resets.log", *logon_and_reject(), *logon_and_reject())
    result = ingest(store, path, "fix")
    assert result.rejected == 0
    ids = [e["event_id"] for e in events(store) if e["type"] == "rejected"]
    assert ids == ["US@BRK/3:2@1", "US@BRK/3:2@2"]  # one per logon: never a conflicting duplicate


def test_what_has_no_canonical_type_is_rejected_with_the_reason(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "odd.log",
        "# a comment line",
        msg("8", "11=A", "17=E1", "20=1", "150=2", "39=2", "32=1", "14=1", "151=0"),
        msg("8", "11=A", "17=E2", "150=D", "39=2", "14=1", "151=0"),
        msg("j", "45=2", "58=Unsupported Message Type"),
        "not fix at all",
    )
    ingest(store, path, "fix")
    assert rejected(store) == [
        ("line 2", "trade bust (ExecTransType 20=1) has no canonical event type: the fill it cancels (ExecRefID 19) "
                   "still counts in the order's cum_qty"),
        ("line 3", "ExecutionReport with ExecType 150=D (restated) has no canonical event type"),
        ("line 4", "FIX message BusinessMessageReject (35=j) has no canonical event type"),
        ("line 5", "no FIX message on this line (expected 8=FIX...)"),
    ]


def test_a_fill_reporting_cum_qty_zero_gets_it_derived(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(tmp_path / "q.log", msg("8", "11=A", "17=E1", "150=2", "39=2", "38=100", "32=100", "31=9.5", "14=0", "151=0"))
    ingest(store, path, "fix")
    (event,) = events(store)
    assert event["cum_qty"] == 100 and '"cum_qty_derived":true' in event["extra"]
    assert '"cum_qty_reported":0' in event["extra"]  # the reported value is kept


def test_intents_come_from_our_submits_by_default_and_never_hide_an_order_we_did_not_send(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "intents.log",
        msg("D", "11=A", "55=SPY", "54=1", "38=2"),
        msg("8", "11=A", "17=E1", "150=0", "39=0", "14=0", "151=2"),
        msg("8", "11=Z", "17=E2", "150=0", "39=0", "14=0", "151=1"),  # no NewOrderSingle in the log
    )
    result = ingest(store, path, "fix")
    assert any("1 intents taken from our own order messages" in note for note in result.notes)
    got = rows(store, "SELECT type, order_id, group_id, role, qty, extra->>'synthesized_from' AS made_from "
                      "FROM events ORDER BY row_number")
    assert got == [
        {"type": "intent", "order_id": "US@BRK/A", "group_id": "US@BRK/A", "role": "leg", "qty": 2.0,
         "made_from": "NewOrderSingle"},
        {"type": "submit", "order_id": "US@BRK/A", "group_id": None, "role": None, "qty": 2.0, "made_from": None},
        {"type": "new", "order_id": "US@BRK/A", "group_id": None, "role": None, "qty": None, "made_from": None},
        {"type": "new", "order_id": "US@BRK/Z", "group_id": None, "role": None, "qty": None, "made_from": None},
    ]
    store.execute("DELETE FROM ingests")
    ingest(store, write(tmp_path / "again.log", msg("D", "11=B", "55=SPY", "54=1", "38=2", seq=9)), "fix",
           fix_intents="none")
    assert store.execute("SELECT count(*) FROM events WHERE type = 'intent' AND order_id = 'US@BRK/B'").fetchone() == (0,)


def test_a_multileg_order_is_a_group_of_its_legs(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    leg = lambda name, symbol, side: ("654=" + name, "600=" + symbol, "624=" + side, "623=1", "687=3")  # noqa: E731
    path = write(
        tmp_path / "multileg.log",
        msg("AB", "11=G1", "38=3", "555=2", *leg("low", "SPY-C215", "2"), *leg("high", "SPY-C220", "1")),
        msg("8", "11=G1", "17=E1", "150=0", "39=0", "38=3", "14=0", "151=3", "442=3"),  # the whole order: each leg
        msg("8", "11=G1", "17=E2", "150=F", "39=2", "442=2", "555=1", "654=low", "600=SPY-C215", "38=3", "32=3",
            "31=0.05", "14=3", "151=0"),
        msg("8", "11=G1", "17=E3", "150=F", "39=2", "442=3", "38=3", "32=3", "31=0.1", "14=3", "151=0"),
    )
    result = ingest(store, path, "fix")
    assert result.reasons == {
        "a fill of a multileg order as a whole (MultiLegReportingType 442=3): the legs' quantities are not reported, "
        "so no leg's fill can be applied; ask the venue for leg reports (442=2)": 1}
    got = rows(store, "SELECT type, order_id, group_id, leg, symbol, side, qty, event_id FROM events ORDER BY row_number")
    assert [(e["type"], e["order_id"]) for e in got] == [
        ("intent", "US@BRK/G1/low"), ("submit", "US@BRK/G1/low"), ("intent", "US@BRK/G1/high"),
        ("submit", "US@BRK/G1/high"), ("new", "US@BRK/G1/low"), ("new", "US@BRK/G1/high"), ("fill", "US@BRK/G1/low")]
    assert {e["group_id"] for e in got[:4]} == {"US@BRK/G1"}
    assert (got[0]["leg"], got[0]["symbol"], got[0]["side"], got[0]["qty"]) == ("low", "SPY-C215", "sell", 3)
    assert got[4]["event_id"] == "US@BRK/E1/low"


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


def test_a_multileg_replace_and_a_leg_cancel_reach_their_legs(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    leg = lambda name, symbol: ("654=" + name, "600=" + symbol, "624=1", "623=1", "687=2")  # noqa: E731
    path = write(
        tmp_path / "multileg-replace.log",
        msg("AB", "11=G1", "38=2", "555=2", *leg("a", "X"), *leg("b", "Y")),
        msg("AC", "11=G2", "41=G1", "38=4", "555=2", "654=a", "687=4", "654=b", "687=6"),
        msg("F", "11=G3", "41=G2", "555=1", "654=b"),
    )
    assert ingest(store, path, "fix", fix_intents="none").rejected == 0
    got = rows(store, "SELECT type, order_id, qty FROM events ORDER BY row_number")
    assert [(e["type"], e["order_id"].rsplit("/", 2)[-2:], e["qty"]) for e in got] == [
        ("submit", ["G1", "a"], 2), ("submit", ["G1", "b"], 2),
        ("replace_request", ["G1", "a"], 4), ("replace_request", ["G1", "b"], 6), ("cancel_request", ["G1", "b"], None)]
