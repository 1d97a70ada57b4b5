"""What the FIX adapter makes of real exchange material (../shared/data/real, see its README.md), with no flag.

Where a folder has ``independent-parse.json`` (counts from a parse written apart from
the project), every message is accounted for: loaded, rejected with a reason, or
skipped as a session message, by MsgType, and the orders' final states agree.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from safeguards.store.database import open_store
from tests.ingesting import ingest, real_file, rows

ICE = "ice_fix42/FIX.4.2-ICE-12000.body"
CCG = "nyse_ccg_examples/ccg_examples.pipe.log"
CCG_TESTS = "nyse_ccg_examples/ccg_examples_from_tests.pipe.log"
MONTRAN = "montran-fix44/Montran_order_messages.log"
MUREX = "murex-360t-fix44/FIX.4.4-MUREX_TI_TEST-360T_TI_TEST.body"
BANZAI = "banzai-exec-fixt11/FIXT.1.1-EXEC-BANZAI.messages.log"
#: independent-parse.json's state words -> ours
STATES = {"filled": "fill", "new": "new", "canceled": "canceled", "partially_filled": "partial_fill"}


def final_states(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(con.execute("SELECT state, count(*) FROM order_states GROUP BY state").fetchall())


def messages_by_type(con: duckdb.DuckDBPyConnection) -> Counter[str]:
    """Business messages loaded or rejected, by MsgType (a synthesized intent is not a message)."""
    loaded = Counter(dict(con.execute(
        "SELECT extra->>'fix_msg_type', count(*) FROM events WHERE type <> 'intent' GROUP BY 1").fetchall()))
    for raw, reason in con.execute("SELECT raw, reason FROM rejected_rows").fetchall():
        if "local intent" not in reason:
            match = re.search(r"\|35=([^|]*)\|", raw)
            loaded[match[1] if match else "?"] += 1
    return loaded


@pytest.mark.parametrize("relative", [MONTRAN, MUREX, BANZAI])
def test_every_message_is_accounted_for_as_an_independent_parse_counts_it(
    store: duckdb.DuckDBPyConnection, relative: str
) -> None:
    path = real_file(relative)
    expected = json.loads((path.parent / "independent-parse.json").read_text())
    result = ingest(store, path, "fix")
    by_type = messages_by_type(store)
    assert sum(by_type.values()) + result.skipped == expected["messages"]
    for msg_type in ("8", "D"):
        assert by_type.get(msg_type, 0) == expected["by_msgtype"].get(msg_type, 0)
    session_types = sum(n for t, n in expected["by_msgtype"].items() if t in ("0", "1", "2", "3", "4", "5", "A"))
    assert result.skipped == session_types
    states = expected.get("final_by_clordid_chain") if relative == BANZAI else expected["final_by_orderid"]
    assert final_states(store) == {STATES[state]: n for state, n in states.items()}


def test_montran_screen_log_both_orders_filled_with_intents_from_our_submits(store: duckdb.DuckDBPyConnection) -> None:
    result = ingest(store, real_file(MONTRAN), "fix")
    assert (result.loaded, result.rejected, result.skipped) == (10, 0, 4)
    assert "read as QuickFIX/J screen log (12 lines)" in result.notes
    got = rows(store, "SELECT type, order_id, epoch_ns(recv_ts) - epoch_ns(broker_ts) AS lag FROM events "
                      "WHERE source = 'broker' ORDER BY row_number")
    assert [e["type"] for e in got] == ["pending_new", "pending_new", "new", "new", "fill", "fill"]
    assert all(-19e9 < e["lag"] < -15e9 for e in got)  # Montran's clock runs ~17 s ahead of the log's
    assert store.execute("SELECT count(*) FROM events WHERE type = 'intent'").fetchone() == (2,)


def test_murex_reports_keyed_by_order_id_only(store: duckdb.DuckDBPyConnection) -> None:
    result = ingest(store, real_file(MUREX), "fix")
    assert (result.loaded, result.rejected, result.skipped) == (2, 0, 2)
    assert store.execute("SELECT list(order_id ORDER BY row_number) FROM events").fetchone() == (
        ["360T_TI_TEST@MUREX_TI_TEST/37=39609648", "360T_TI_TEST@MUREX_TI_TEST/37=39609649"],)


def test_banzai_fuzzed_values_are_quarantined_and_two_edited_messages_refused(store: duckdb.DuckDBPyConnection) -> None:
    result = ingest(store, real_file(BANZAI), "fix")
    assert sum(n for reason, n in result.reasons.items() if reason.startswith("field 'qty': negative quantity")) == 20
    assert sum(n for reason, n in result.reasons.items() if reason.startswith("BodyLength (9)")) == 2


def test_ice_store_orders_and_final_states(store: duckdb.DuckDBPyConnection) -> None:
    result = ingest(store, real_file(ICE), "fix")
    # 1,361 messages: 1,266 execution reports, 91 session messages, 4 business messages with no canonical type.
    assert (result.loaded, result.skipped, result.rejected) == (1266, 91, 4)
    assert result.reasons == {
        "FIX message BusinessMessageReject (35=j) has no canonical event type": 2,
        "FIX message type CI (35=CI) has no canonical event type": 1,
        "FIX message type CJ (35=CJ) has no canonical event type": 1,
    }
    assert store.execute("SELECT count(DISTINCT order_id) FROM events").fetchone() == (637,)
    assert final_states(store) == {"canceled": 595, "fill": 34, "new": 8}
    still_open = store.execute(
        "SELECT broker_order_id FROM events JOIN order_states USING (account, order_id) "
        "WHERE state = 'new' ORDER BY 1").fetchall()
    assert [r[0][-3:] for r in still_open] == [str(n) for n in range(630, 638)]


def test_ice_cancels_link_through_origclordid_and_nothing_was_sent_by_us(store: duckdb.DuckDBPyConnection) -> None:
    ingest(store, real_file(ICE), "fix")
    orders = rows(store, "SELECT order_id, list(type ORDER BY row_number) AS types FROM events GROUP BY order_id")
    assert all(o["types"][0] == "new" for o in orders)  # every cancel reached an order that had been acknowledged
    assert sum(o["types"] == ["new", "canceled"] for o in orders) == 595
    assert sum(o["types"] == ["new", "fill"] for o in orders) == 34
    assert store.execute("SELECT count(*) FROM events WHERE source = 'local'").fetchone() == (0,)
    assert store.execute("SELECT DISTINCT split_part(order_id, '/', 1) FROM events").fetchall() == [("12000@ICE",)]


def test_ice_prices_are_kept_exactly_as_sent(store: duckdb.DuckDBPyConnection) -> None:
    ingest(store, real_file(ICE), "fix")
    assert store.execute(
        "SELECT limit_px FROM events WHERE extra->>'fix_clordid' = '120001000002'").fetchone() == (109.479999999981,)


def test_ccg_examples_have_wrong_checksums_and_load_leniently(store: duckdb.DuckDBPyConnection,
                                                              tmp_path: Path) -> None:
    with open_store(tmp_path / "strict.duckdb") as strict_store:
        strict = ingest(strict_store, real_file(CCG), "fix")
    assert sum(n for reason, n in strict.reasons.items() if reason.startswith("CheckSum (10)")) == 6
    result = ingest(store, real_file(CCG), "fix", fix_lenient=True)
    assert (result.loaded, result.skipped, result.rejected) == (42, 17, 15)
    assert not any(reason.startswith(("CheckSum", "BodyLength")) for reason in result.reasons)
    assert result.reasons["FIX message TradeCaptureReport (35=AE) has no canonical event type"] == 3
    assert result.reasons["garbled field '(empty)' (field 12): expected tag=value with a numeric tag; the message "
                          "cannot be trusted, so it is kept here unread"] == 1  # a fixture with a literal '\\x01'
    # The session Reject of NewOrderSingle 34=13 rejects that order.
    assert final_states(store)["rejected"] == 1


def test_ccg_trade_corrections_busts_and_cumqty_zero(store: duckdb.DuckDBPyConnection) -> None:
    result = ingest(store, real_file(CCG_TESTS), "fix", fix_lenient=True)
    assert (result.loaded, result.rejected) == (24, 2)
    assert sorted(result.reasons) == [
        "trade bust (ExecTransType 20=1) has no canonical event type: the fill it cancels (ExecRefID 19) still "
        "counts in the order's cum_qty",
        "trade correction (ExecTransType 20=2) has no canonical event type: the fill it corrects (ExecRefID 19) "
        "keeps its first quantity and price",
    ]
    fills = rows(store, "SELECT type, last_qty, cum_qty, leaves_qty, extra->>'cum_qty_derived' AS derived "
                        "FROM events WHERE type IN ('fill', 'partial_fill') ORDER BY row_number")
    assert [(f["type"], f["last_qty"], f["cum_qty"], f["derived"]) for f in fills] == [
        ("fill", 1000, 1000, "true"), ("partial_fill", 100, 100, "true"), ("fill", 400, 500, "true"),
        ("fill", 1000, 1000, None), ("fill", 1000, 1000, "true")]
    assert store.execute("SELECT count(*) FROM events WHERE type = 'replace_request'").fetchone() == (1,)
    # "20090402- 18:13:13": SendingTime with a space is read as meant.
    assert store.execute("SELECT count(*) FROM events WHERE recv_ts IS NULL").fetchone() == (0,)
