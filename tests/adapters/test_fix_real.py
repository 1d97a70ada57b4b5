"""What the FIX adapter makes of real exchange material (../shared/data/real, see its README.md)."""

from __future__ import annotations

import duckdb

from tests.ingesting import ingest, real_file, rows

ICE = "ice_fix42/FIX.4.2-ICE-12000.body"
CCG = "nyse_ccg_examples/ccg_examples.pipe.log"
CCG_TESTS = "nyse_ccg_examples/ccg_examples_from_tests.pipe.log"


def final_states(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(con.execute("SELECT state, count(*) FROM order_states GROUP BY state").fetchall())


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


def test_ccg_examples_are_read_line_by_line_with_mixed_delimiters(store: duckdb.DuckDBPyConnection) -> None:
    result = ingest(store, real_file(CCG), "fix")
    assert (result.loaded, result.skipped, result.rejected) == (29, 19, 13)
    assert result.reasons == {
        "FIX message TradeCaptureReport (35=AE) has no canonical event type": 3,
        "FIX message TradeCaptureReportAck (35=AR) has no canonical event type": 3,
        "missing field 'order_id' (required for broker fill)": 2,  # LIFFE fills without ClOrdID
        "FIX message type 6 (35=6) has no canonical event type": 1,
        "FIX message type AD (35=AD) has no canonical event type": 1,
        "FIX message type X (35=X) has no canonical event type": 1,
        "FIX message type n (35=n) has no canonical event type": 1,
        "malformed FIX field 'E' (expected tag=value)": 1,  # a fixture with a literal '\\x01' in it
    }
    # The session Reject of NewOrderSingle 34=13 rejects that order.
    assert final_states(store)["rejected"] == 1


def test_ccg_trade_corrections_busts_and_cumqty_zero(store: duckdb.DuckDBPyConnection) -> None:
    result = ingest(store, real_file(CCG_TESTS), "fix")
    assert (result.loaded, result.rejected) == (14, 3)
    assert sorted(result.reasons) == [
        "OrderCancelReplaceRequest (35=G) has no canonical local event type (its new ClOrdID is linked to the "
        "order it replaces)",
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
    # "20090402- 18:13:13": SendingTime with a space is read as meant.
    assert store.execute("SELECT count(*) FROM events WHERE recv_ts IS NULL").fetchone() == (0,)
